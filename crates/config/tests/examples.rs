//! Every example configuration under `examples/` loads, and every zone
//! file it names exists. (`tandem check` goes further and parses the zone
//! files; the binary's tests cover that.)

use std::path::Path;

use tandem_config::Config;

#[test]
fn every_example_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            for z in &config.zones {
                if let tandem_config::ZoneRole::Primary { file } = &z.role {
                    assert!(
                        file.exists(),
                        "{}: zone file {} missing",
                        path.display(),
                        file.display()
                    );
                }
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no example configs found in {}", dir.display());
}
