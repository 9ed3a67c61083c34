//! Any text as a configured option value of every type: parsing must not
//! panic, and what parses must format back without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_dhcp_wire::Kind;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let words: Vec<String> = text.split('\n').map(str::to_string).collect();
    for k in Kind::ALL {
        if let Ok(bytes) = k.parse(&words) {
            let _ = k.format(&bytes);
        }
        let _ = k.format(data);
    }
});
