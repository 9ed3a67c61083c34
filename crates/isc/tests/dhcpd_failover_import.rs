//! dhcpd.conf's failover statements to `[[dhcp.failover]]` and the pools'
//! `failover-peer`, and what is listed instead of translated.

use std::path::Path;

use tandem_isc::{
    import_dhcpd_statements, parse_str_dialect, DhcpImport, DhcpdImportOptions, Dialect,
};

fn import(text: &str) -> DhcpImport {
    let path = Path::new("/etc/dhcp/dhcpd.conf");
    let stmts = parse_str_dialect(text, path, Dialect::Dhcpd).unwrap();
    import_dhcpd_statements(&stmts, path, &DhcpdImportOptions::default()).unwrap()
}

fn untranslated(im: &DhcpImport) -> Vec<(u32, String)> {
    im.untranslated
        .iter()
        .map(|u| (u.loc.line, u.reason.clone()))
        .collect()
}

/// The `[[dhcp.failover]]` tables and the pools, as TOML.
fn tables(im: &DhcpImport) -> (Vec<toml::Table>, Vec<toml::Table>) {
    let t: toml::Table = im
        .toml
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{}", im.toml));
    let dhcp = t["dhcp"].as_table().unwrap();
    let list = |v: Option<&toml::Value>| -> Vec<toml::Table> {
        v.and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| x.as_table().unwrap().clone()).collect())
            .unwrap_or_default()
    };
    let subnets = list(dhcp.get("subnet"));
    let pools = subnets.iter().flat_map(|s| list(s.get("pool"))).collect();
    (list(dhcp.get("failover")), pools)
}

const POOL: &str = "subnet 192.168.0.0 netmask 255.255.255.0 {
  pool {
    range 192.168.0.15 192.168.0.245;
    failover peer \"dhcp-failover\";
  }
}
";

#[test]
fn every_setting_of_the_block() {
    let im = import(&format!(
        "failover peer \"dhcp-failover\" {{
  primary;
  address 192.168.0.254;
  port 847;
  peer address 192.168.0.253;
  peer port 848;
  max-response-delay 60;
  max-unacked-updates 10;
  load balance max seconds 5;
  mclt 3600;
  hba ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00;
  max-lease-misbalance 20;
  max-lease-ownership 5;
  min-balance 30;
  max-balance 600;
}}
{POOL}"
    ));
    assert!(im.untranslated.is_empty(), "{:?}", untranslated(&im));
    let (failover, pools) = tables(&im);
    let f = &failover[0];
    let int = |k: &str| f[k].as_integer().unwrap();
    assert_eq!(f["name"].as_str(), Some("dhcp-failover"));
    assert_eq!(f["role"].as_str(), Some("primary"));
    assert_eq!(f["address"].as_str(), Some("192.168.0.254"));
    assert_eq!(f["peer-address"].as_str(), Some("192.168.0.253"));
    assert_eq!((int("port"), int("peer-port")), (847, 848));
    assert_eq!(int("max-response-delay"), 60);
    assert_eq!(int("max-unacked-updates"), 10);
    assert_eq!(int("load-balance-max-seconds"), 5);
    assert_eq!(int("mclt"), 3600);
    assert_eq!(
        f["hba"].as_str(),
        Some(
            tandem_dhcp::failover::Hba::from_split(128)
                .unwrap()
                .to_string()
                .as_str()
        )
    );
    assert_eq!(int("max-lease-misbalance"), 20);
    assert_eq!(int("max-lease-ownership"), 5);
    assert_eq!((int("min-balance"), int("max-balance")), (30, 600));
    assert_eq!(pools[0]["failover-peer"].as_str(), Some("dhcp-failover"));
}

#[test]
fn what_is_not_translated_is_listed() {
    let im = import(&format!(
        "failover peer \"dhcp-failover\" {{
  secondary;
  address 192.168.0.253;
  peer address dhcp1.home;
  auto-partner-down 3600;
}}
{POOL}"
    ));
    let got = untranslated(&im);
    assert_eq!(got.len(), 4, "{got:?}");
    // In file order: the block, its address, auto-partner-down, the pool.
    assert!(got[0].1.contains("no peer address; left out"), "{got:?}");
    assert!(got[1].1.contains("not \"dhcp1.home\""), "{got:?}");
    assert!(got[2].1.contains("auto-partner-down"), "{got:?}");
    assert!(got[3].1.contains("serves without failover"), "{got:?}");
    // The pool serves without failover.
    let (failover, pools) = tables(&im);
    assert!(failover.is_empty());
    assert!(pools[0].get("failover-peer").is_none());
}

#[test]
fn a_secondary_drops_the_primarys_settings_with_a_note() {
    let im = import(&format!(
        "failover peer \"dhcp-failover\" {{
  secondary;
  address 192.168.0.253;
  peer address 192.168.0.254;
  mclt 1800;
  split 128;
}}
{POOL}"
    ));
    assert!(im.untranslated.is_empty());
    let notes: Vec<&str> = im.notes.iter().map(|n| n.reason.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("mclt is the primary's")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("split is the primary's")),
        "{notes:?}"
    );
    let (failover, _) = tables(&im);
    assert!(failover[0].get("mclt").is_none() && failover[0].get("split").is_none());
}

#[test]
fn a_pool_must_name_a_declared_peer() {
    let im = import(POOL);
    let got = untranslated(&im);
    assert_eq!(got.len(), 1);
    assert!(got[0]
        .1
        .contains("no failover peer \"dhcp-failover\" is declared"));
    assert!(!im.dhcp_section.contains("failover-peer"));
}
