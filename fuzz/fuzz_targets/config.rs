//! Any text as a configuration file: a located error or a config.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = tandem_config::Config::parse(text, std::path::Path::new("fuzz.toml")) {
            let _ = e.to_string();
        }
    }
});
