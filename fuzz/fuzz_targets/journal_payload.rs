//! Any bytes as a zone-journal payload (after its checksum passed): an
//! error or a value that encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_zonestore::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = codec::decode_diff(data) {
        assert_eq!(codec::encode_diff(&d), data);
    }
    if let Ok(o) = codec::decode_checkpoint(data) {
        let _ = codec::encode_checkpoint(&o);
    }
    if let Ok(p) = codec::decode_snapshot_part(data) {
        assert!(p.part < p.parts);
        assert_eq!(codec::encode_snapshot_part(&p), data);
    }
    if let Ok(t) = codec::decode_refreshed(data) {
        assert_eq!(codec::encode_refreshed(t), data);
    }
});
