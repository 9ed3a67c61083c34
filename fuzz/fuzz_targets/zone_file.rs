//! Any text as a zone file: an error or records, never a panic; records
//! that load as a zone answer lookups without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_dns_wire::{Class, Name, Rtype};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin: Name = "fuzz.".parse().unwrap();
    let Ok(records) = tandem_zone::file::parse_str(&origin, text) else {
        return;
    };
    let owners: Vec<Name> = records.iter().map(|r| r.record.owner.clone()).collect();
    if let Ok((zone, _)) =
        tandem_zone::Zone::from_records(origin, Class::IN, records.into_iter().map(|r| r.record))
    {
        for owner in owners.iter().take(8) {
            for t in [Rtype::A, Rtype::ANY, Rtype::MX, Rtype::NS] {
                let _ = zone.resolve(owner, t, true);
            }
        }
    }
});
