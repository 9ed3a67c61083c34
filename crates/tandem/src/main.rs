//! The `tandem` command: serve, check a configuration, reload a running
//! server, import a BIND configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tandem_config::Config;

mod demo;
mod import_pair;
mod logsink;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "Highly available DHCPv4 and DNS for a small network"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the seed's two-server network in network namespaces (run as
    /// root), run a tandem pair and real DHCP clients in it, and check
    /// failover, DNS and DDNS step by step; everything is removed at the end.
    Demo(demo::DemoArgs),
    /// Run in the foreground until SIGTERM or SIGINT; SIGHUP reloads zones.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the configuration and every file it names.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Turn ISC configuration into one tandem configuration in DIR: a BIND
    /// named.conf (with its includes, keys and primary zones, whose files are
    /// copied), a dhcpd.conf, or both, and dhcpd's leases.
    ImportIsc {
        /// BIND's named.conf.
        #[arg(long, required_unless_present = "dhcpd_conf")]
        named_conf: Option<PathBuf>,
        /// ISC dhcpd's dhcpd.conf.
        #[arg(long)]
        dhcpd_conf: Option<PathBuf>,
        /// dhcpd's lease file (dhcpd.leases), written as
        /// DIR/imported-leases.json for the server to load at its first start.
        #[arg(long, requires = "dhcpd_conf")]
        leases: Option<PathBuf>,
        /// An interface to serve DHCP on, as dhcpd was given on its command
        /// line (Debian: INTERFACESv4 in /etc/default/isc-dhcp-server).
        /// Repeat for several.
        #[arg(long = "interface", value_name = "IFACE", requires = "dhcpd_conf")]
        interfaces: Vec<String>,
        /// The other server's dhcpd.conf (its failover peer's side): with
        /// --peer-named-conf or alone, DIR gets one shared.toml both nodes
        /// use and each node's identity (primary.toml, secondary.toml).
        #[arg(long, requires = "dhcpd_conf")]
        peer_dhcpd_conf: Option<PathBuf>,
        /// The other server's named.conf (see --peer-dhcpd-conf).
        #[arg(long, requires = "named_conf")]
        peer_named_conf: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show what a running server serves: zones with serials, DHCP counters.
    Status {
        /// The server's configuration (to find its control socket).
        #[arg(long, short, required_unless_present = "socket")]
        config: Option<PathBuf>,
        /// The control socket, if not taken from the configuration.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// List the DHCP leases of a running server.
    Leases {
        /// The server's configuration (to find its control socket).
        #[arg(long, short, required_unless_present = "socket")]
        config: Option<PathBuf>,
        /// The control socket, if not taken from the configuration.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Failover relationships of a running server.
    Failover {
        #[command(subcommand)]
        action: FailoverCommand,
        /// The server's configuration (to find its control socket).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// The control socket, if not taken from the configuration.
        #[arg(long, global = true)]
        socket: Option<PathBuf>,
    },
    /// Ask a running server to re-read its zone files.
    Reload {
        /// The server's configuration (to find its control socket).
        #[arg(long, short, required_unless_present = "socket")]
        config: Option<PathBuf>,
        /// The control socket, if not taken from the configuration.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FailoverCommand {
    /// Declare the partner down (ISC's omshell partner-down): this server
    /// serves every client and, after the MCLT, the partner's addresses.
    /// Only for a partner that is really down; see docs/failover.md.
    PartnerDown {
        /// The relationship (all of them if omitted).
        name: Option<String>,
    },
    /// Stop answering clients for a while (ISC's local-state paused): the
    /// partner moves to communications-interrupted and serves alone.
    Pause {
        /// The relationship (all of them if omitted).
        name: Option<String>,
    },
    /// Take this server out (ISC's local-state shut-down): the partner
    /// moves to partner-down at once, without waiting to be told.
    ShutDown {
        /// The relationship (all of them if omitted).
        name: Option<String>,
    },
    /// End a pause or shut-down: back through communications-interrupted
    /// to whatever the partner's state calls for.
    Resume {
        /// The relationship (all of them if omitted).
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve { config } => serve(config),
        Command::Check { config } => check(config),
        Command::Reload { config, socket } => control_command(config, socket, "reload"),
        Command::Status { config, socket } => control_command(config, socket, "status"),
        Command::Failover {
            action,
            config,
            socket,
        } => {
            let (what, name) = match action {
                FailoverCommand::PartnerDown { name } => ("partner-down", name),
                FailoverCommand::Pause { name } => ("pause", name),
                FailoverCommand::ShutDown { name } => ("shut-down", name),
                FailoverCommand::Resume { name } => ("resume", name),
            };
            let command = match name {
                Some(n) => format!("failover {what} {n}"),
                None => format!("failover {what}"),
            };
            control_command(config, socket, &command)
        }
        Command::Leases {
            config,
            socket,
            json,
        } => leases(config, socket, json),
        Command::ImportIsc {
            named_conf,
            dhcpd_conf,
            leases,
            interfaces,
            peer_dhcpd_conf,
            peer_named_conf,
            out,
        } if peer_dhcpd_conf.is_some() || peer_named_conf.is_some() => import_pair::run(
            import_pair::ServerFiles {
                named_conf,
                dhcpd_conf,
            },
            import_pair::ServerFiles {
                named_conf: peer_named_conf,
                dhcpd_conf: peer_dhcpd_conf,
            },
            leases,
            interfaces,
            out,
            IMPORTED_LEASES,
        ),
        Command::ImportIsc {
            named_conf,
            dhcpd_conf,
            leases,
            interfaces,
            out,
            ..
        } => import_isc(named_conf, dhcpd_conf, leases, interfaces, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandem: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr from a writer thread that writes them in batches
/// (`logsink`), so a request path that logs (four ISC-style lines per DHCP
/// exchange) neither waits on write(2) nor wakes a thread per line. The
/// guard flushes what is pending when `serve` returns; nothing is dropped
/// while it runs (a logger far ahead of the writer waits for it).
fn init_logging() -> anyhow::Result<logsink::Guard> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // `Targets` ("info", "tandem_server::dhcp=debug,info") rather than
    // `EnvFilter`: the same syntax for what operators set, without the
    // regex engine EnvFilter compiles at start-up (a megabyte of code).
    let default = Targets::new().with_default(tracing::Level::INFO);
    let filter = match std::env::var("TANDEM_LOG") {
        Ok(s) => s.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("tandem: TANDEM_LOG={s:?}: {e}; logging at info");
            default
        }),
        Err(_) => default,
    };
    let (writer, guard) =
        logsink::LogSink::start(std::io::stderr()).context("cannot start the log writer")?;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .init();
    Ok(guard)
}

fn serve(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = Config::load(&path)?;
    // Before any thread exists (the logger's included): capabilities are
    // per thread, and every later thread copies the reduced set.
    let dropped = tandem_server::system::drop_privileges(&config)?;
    let _log = init_logging()?;
    match dropped {
        Some(d) => {
            tracing::info!("{}", d.line);
            for cap in d.missing {
                tracing::warn!("{cap} is not available to this process; see docs/configuration.md ([server] user)");
            }
        }
        None => tracing::info!("{}", tandem_server::system::describe()),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let server = tandem_server::Server::start(&config).await?;
        let line = server.ready_line();
        tracing::info!("{line}");
        // The readiness line goes to stdout, alone, for supervisors and tests.
        println!("{line}");
        tandem_server::system::notify_ready();
        server.run_until_signal().await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match tandem_zonestore::check(&tandem_server::zone_specs(&config)) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let dhcp = match &config.dhcp {
                Some(d) => {
                    let pools: Vec<_> = d.subnets.iter().flat_map(|s| &s.pools).collect();
                    let size: u64 = pools.iter().map(|p| p.size()).sum();
                    format!(
                        "; dhcp on {}: {} subnets, {} pools of {size} addresses, {} hosts",
                        d.interfaces.join(" "),
                        d.subnets.len(),
                        pools.len(),
                        d.hosts.len()
                    )
                }
                None => String::new(),
            };
            println!(
                "{}: ok ({} zones{dhcp})",
                path.display(),
                config.zones.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn control_socket(config: Option<PathBuf>, socket: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match (socket, config) {
        (Some(s), _) => s,
        (None, Some(c)) => Config::load(&c)?.server.control_socket,
        (None, None) => anyhow::bail!("give --config or --socket"),
    })
}

fn leases(
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let socket = control_socket(config, socket)?;
    let answer = tandem_server::control::request(&socket, "leases")
        .with_context(|| format!("cannot reach the server at {}", socket.display()))?;
    let mut lines: Vec<&str> = answer.lines().collect();
    if lines.last() != Some(&"ok") {
        eprint!("{answer}");
        return Ok(ExitCode::FAILURE);
    }
    lines.pop();
    let body = lines.join("\n");
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let leases: Vec<tandem_server::dhcp::LeaseView> =
        serde_json::from_str(&body).context("the server sent leases this client cannot read")?;
    println!(
        "{:<15}  {:<17}  {:<9}  {:>8}  {:<20}  client-id",
        "address", "hardware", "state", "ends-in", "hostname"
    );
    for l in leases {
        println!(
            "{:<15}  {:<17}  {:<9}  {:>8}  {:<20}  {}",
            l.address.to_string(),
            l.hardware_address.as_deref().unwrap_or("-"),
            l.state,
            if l.remaining > 0 {
                format!("{}s", l.remaining)
            } else {
                "-".into()
            },
            l.hostname.as_deref().unwrap_or("-"),
            l.client_id.as_deref().unwrap_or("-"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends one command to the control socket and prints the answer.
fn control_command(
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    command: &str,
) -> anyhow::Result<ExitCode> {
    let socket = control_socket(config, socket)?;
    let answer = tandem_server::control::request(&socket, command)
        .with_context(|| format!("cannot reach the server at {}", socket.display()))?;
    print!("{answer}");
    let ok = answer.lines().last().is_some_and(|l| l.starts_with("ok"));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The file `import-isc --leases` writes into DIR, named by `[dhcp]
/// import-leases`.
const IMPORTED_LEASES: &str = "imported-leases.json";

/// An ISC lease file, parsed; a parse error is printed with its place and
/// becomes the exit code to return.
type IscLeases<'a> = Option<(&'a PathBuf, Vec<tandem_dhcp::Lease>)>;

fn read_isc_leases(path: Option<&PathBuf>) -> anyhow::Result<Result<IscLeases<'_>, ExitCode>> {
    let Some(p) = path else {
        return Ok(Ok(None));
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    match tandem_isc::parse_dhcpd_leases(&text, p) {
        Ok(l) => Ok(Ok(Some((p, l)))),
        Err(e) => {
            eprintln!("{e}");
            Ok(Err(ExitCode::FAILURE))
        }
    }
}

fn import_isc(
    named_conf: Option<PathBuf>,
    dhcpd_conf: Option<PathBuf>,
    leases: Option<PathBuf>,
    interfaces: Vec<String>,
    out: PathBuf,
) -> anyhow::Result<ExitCode> {
    let mut loader = tandem_isc::fs_loader();
    // Everything is read and translated before anything is written.
    let named = match &named_conf {
        Some(p) => match tandem_isc::import_named_conf(p, &mut loader) {
            Ok(i) => Some(i),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    let leases = match read_isc_leases(leases.as_ref())? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let dhcp = match &dhcpd_conf {
        Some(p) => {
            let options = tandem_isc::DhcpdImportOptions {
                interfaces,
                import_leases: leases.as_ref().map(|_| IMPORTED_LEASES.to_string()),
            };
            match tandem_isc::import_dhcpd_conf(p, &options, &mut loader) {
                Ok(i) => Some(i),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        None => None,
    };
    let toml = match tandem_isc::combine(named.as_ref(), dhcp.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let config = out.join("tandem.toml");
    if config.exists() {
        anyhow::bail!(
            "{} exists; import into an empty directory",
            config.display()
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    if let Some(named) = &named {
        std::fs::create_dir_all(out.join("zones"))
            .with_context(|| format!("cannot create {}", out.join("zones").display()))?;
        for (from, to) in &named.zone_files {
            let dest = out.join(to);
            std::fs::copy(from, &dest).with_context(|| {
                format!(
                    "cannot copy zone file {} to {}",
                    from.display(),
                    dest.display()
                )
            })?;
            println!("copied {} -> {}", from.display(), dest.display());
        }
    }
    if let Some((from, leases)) = &leases {
        let dest = out.join(IMPORTED_LEASES);
        let json = tandem_isc::leases_json(leases).context("cannot write the leases as JSON")?;
        std::fs::write(&dest, json).with_context(|| format!("cannot write {}", dest.display()))?;
        println!(
            "imported {} leases from {} -> {} (the server loads them into its lease store at its first start: [dhcp] import-leases)",
            leases.len(),
            from.display(),
            dest.display()
        );
    }
    std::fs::write(&config, &toml).with_context(|| format!("cannot write {}", config.display()))?;
    println!("wrote {}", config.display());
    let list = |title: &str, items: Vec<&tandem_isc::Untranslated>| {
        if items.is_empty() {
            return;
        }
        println!("{title} ({}):", items.len());
        for u in items {
            println!(
                "  {}:{}:{}: {}: {}",
                u.loc.file.display(),
                u.loc.line,
                u.loc.col,
                u.statement,
                u.reason
            );
        }
    };
    let untranslated = named
        .iter()
        .flat_map(|n| &n.untranslated)
        .chain(dhcp.iter().flat_map(|d| &d.untranslated))
        .collect();
    list("not translated", untranslated);
    list(
        "translated, but check",
        dhcp.iter().flat_map(|d| &d.notes).collect(),
    );
    // The result must be a configuration tandem accepts, zone files included.
    let checked = match Config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "check: {} needs editing before tandem accepts it (see above)",
                config.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Err(errors) = tandem_zonestore::check(&tandem_server::zone_specs(&checked)) {
        for e in errors {
            eprintln!("{e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let dhcp_summary = match &checked.dhcp {
        Some(d) => format!(
            ", dhcp: {} subnets, {} hosts",
            d.subnets.len(),
            d.hosts.len()
        ),
        None => String::new(),
    };
    println!(
        "check: ok ({} zones{dhcp_summary}); run: tandem serve --config {}",
        checked.zones.len(),
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}
