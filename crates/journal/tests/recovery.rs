//! Crash-recovery tests: every possible torn tail, damage in the middle, and
//! bad headers.

use std::path::{Path, PathBuf};

use tandem_journal::format::{frame_len, HEADER_LEN};
use tandem_journal::{
    FileBackend, FrameDefect, Journal, JournalError, MemBackend, Options, RecoveryMode,
};

fn path() -> PathBuf {
    PathBuf::from("/j/zone.journal")
}

/// Payloads of assorted sizes, including empty, none of which embeds a frame.
fn payloads() -> Vec<(u16, Vec<u8>)> {
    [0usize, 1, 5, 17, 3, 64, 0, 200, 9, 33]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let kind = if i % 4 == 3 { 2 } else { 1 };
            let body: Vec<u8> = (0..n).map(|j| b'a' + ((i * 7 + j) % 26) as u8).collect();
            (kind, body)
        })
        .collect()
}

/// Writes `payloads()` through a journal and returns the file image and each
/// entry's `[start, end)` byte range.
fn build_image() -> (Vec<u8>, Vec<(u64, u64)>) {
    let mem = MemBackend::new();
    let (j, replay) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    assert!(replay.fresh);
    let mut ranges = Vec::new();
    for (kind, p) in payloads() {
        let lsn = j.append_blocking(kind, p.clone()).unwrap();
        ranges.push((lsn, lsn + frame_len(p.len()) as u64));
    }
    let end = ranges.last().unwrap().1;
    assert_eq!(j.len(), end);
    drop(j);
    // Past `end` is the zero-filled room of preallocation; the tests cut
    // and damage the frames themselves.
    let mut image = mem.contents(&path()).unwrap();
    assert!(image[end as usize..].iter().all(|&b| b == 0));
    image.truncate(end as usize);
    (image, ranges)
}

fn check_prefix_replay(
    n: usize,
    got: &[tandem_journal::Entry],
    ranges: &[(u64, u64)],
) -> Vec<(u16, Vec<u8>)> {
    let expected: Vec<(u16, Vec<u8>)> = payloads()
        .into_iter()
        .zip(ranges)
        .filter(|(_, r)| r.1 <= n as u64)
        .map(|(p, _)| p)
        .collect();
    let got_pairs: Vec<(u16, Vec<u8>)> = got.iter().map(|e| (e.kind, e.payload.clone())).collect();
    assert_eq!(got_pairs, expected, "replay after truncation to {n} bytes");
    expected
}

#[test]
fn every_truncation_point_replays_exactly_the_whole_entries_before_it() {
    let (image, ranges) = build_image();
    let boundaries: Vec<u64> = std::iter::once(HEADER_LEN as u64)
        .chain(ranges.iter().map(|r| r.1))
        .collect();
    for n in 0..=image.len() {
        let mem = MemBackend::new();
        mem.set_contents(&path(), &image[..n]);
        let (j, replay) = Journal::open(path(), Options::with_backend(mem.clone()))
            .unwrap_or_else(|e| panic!("open after truncation to {n}: {e}"));
        let mut expected = check_prefix_replay(n, &replay.entries, &ranges);

        let on_boundary = n == 0 || boundaries.contains(&(n as u64));
        let torn = !on_boundary && !torn_bytes_are_zeros(&image, &boundaries, n);
        assert_eq!(replay.truncated.is_some(), torn, "n={n}");
        if let Some(t) = replay.truncated {
            let valid_end = if n < HEADER_LEN {
                0
            } else {
                valid_end(&boundaries, n)
            };
            assert_eq!(t.offset, valid_end, "n={n}");
            // A torn header is dropped whole; a torn frame is counted up to
            // its last non-zero byte.
            let last = if n < HEADER_LEN {
                n as u64
            } else {
                image[..n].iter().rposition(|&b| b != 0).unwrap() as u64 + 1
            };
            assert_eq!(t.offset + t.bytes_dropped, last, "n={n}");
        }
        assert_eq!(replay.fresh, n < HEADER_LEN, "n={n}");

        // The cut must leave a file that accepts appends and replays cleanly.
        j.append_blocking(9, &b"after"[..]).unwrap();
        drop(j);
        let (_j, again) = Journal::open(path(), Options::with_backend(mem)).unwrap();
        assert!(again.truncated.is_none(), "n={n}");
        expected.push((9, b"after".to_vec()));
        let got: Vec<(u16, Vec<u8>)> = again
            .entries
            .iter()
            .map(|e| (e.kind, e.payload.clone()))
            .collect();
        assert_eq!(got, expected, "n={n} after re-append");
    }
}

#[test]
fn every_truncation_point_on_a_real_file() {
    let (image, ranges) = build_image();
    let boundaries: Vec<u64> = std::iter::once(HEADER_LEN as u64)
        .chain(ranges.iter().map(|r| r.1))
        .collect();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("zone.journal");
    for n in 0..=image.len() {
        std::fs::write(&file, &image[..n]).unwrap();
        let (j, replay) = Journal::open(&file, Options::default())
            .unwrap_or_else(|e| panic!("open after truncation to {n}: {e}"));
        check_prefix_replay(n, &replay.entries, &ranges);
        let expected_len = if n < HEADER_LEN {
            HEADER_LEN as u64
        } else {
            valid_end(&boundaries, n)
        };
        assert_eq!(j.len(), expected_len, "n={n}");
        drop(j);
        // A torn tail is cut; a tail of zeros stays as free room.
        let file_len = match replay.truncated {
            Some(_) => expected_len,
            None => expected_len.max(n as u64),
        };
        assert_eq!(std::fs::metadata(&file).unwrap().len(), file_len, "n={n}");
    }
}

/// The end of the last whole frame within the first `n` bytes.
fn valid_end(boundaries: &[u64], n: usize) -> u64 {
    *boundaries.iter().filter(|&&b| b <= n as u64).max().unwrap()
}

/// Whether the bytes of a partial frame cut at `n` are all zeros (the start
/// of an empty frame's length field): free room to recovery, not damage.
fn torn_bytes_are_zeros(image: &[u8], boundaries: &[u64], n: usize) -> bool {
    n >= HEADER_LEN
        && image[valid_end(boundaries, n) as usize..n]
            .iter()
            .all(|&b| b == 0)
}

#[test]
fn garbage_after_last_frame_is_a_torn_tail() {
    let (mut image, ranges) = build_image();
    let end = image.len() as u64;
    image.extend_from_slice(&[0u8; 700]); // size extended, data never written
    image.extend_from_slice(&[0xff, 0x00, 0x13]);
    let mem = MemBackend::new();
    mem.set_contents(&path(), &image);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(replay.entries.len(), ranges.len());
    let t = replay.truncated.unwrap();
    assert_eq!((t.offset, t.bytes_dropped), (end, 703));
}

#[test]
fn flipping_any_byte_before_the_last_frame_is_corruption() {
    let (image, ranges) = build_image();
    let last_start = ranges.last().unwrap().0 as usize;
    for pos in HEADER_LEN..last_start {
        let frame = ranges.iter().position(|r| (pos as u64) < r.1).unwrap();
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = image.clone();
            bad[pos] ^= mask;
            let mem = MemBackend::new();
            mem.set_contents(&path(), &bad);
            match Journal::open(path(), Options::with_backend(mem.clone())) {
                Err(JournalError::Corrupt {
                    path: p,
                    offset,
                    next_valid,
                    ..
                }) => {
                    assert_eq!(p, path());
                    assert_eq!(offset, ranges[frame].0, "pos={pos} mask={mask:#x}");
                    assert!(next_valid > offset);
                }
                Err(other) => panic!("pos={pos}: unexpected error {other}"),
                Ok(_) => panic!("pos={pos} mask={mask:#x}: corruption went unnoticed"),
            }
            // Refusing must not modify the file.
            assert_eq!(mem.contents(&path()).unwrap(), bad);

            // The operator's override keeps what precedes the damage.
            let opts = Options {
                recovery: RecoveryMode::TruncateAtFirstDamage,
                ..Options::with_backend(mem)
            };
            let (_j, replay) = Journal::open(path(), opts).unwrap();
            assert_eq!(replay.entries.len(), frame, "pos={pos}");
            assert_eq!(replay.truncated.unwrap().offset, ranges[frame].0);
        }
    }
}

#[test]
fn damage_in_the_last_frame_is_indistinguishable_from_a_torn_write() {
    // Documented limitation: with nothing valid behind it, a damaged final
    // frame looks exactly like an interrupted append and is cut off.
    let (mut image, ranges) = build_image();
    let last = *ranges.last().unwrap();
    image[last.0 as usize + 12] ^= 0x10;
    let mem = MemBackend::new();
    mem.set_contents(&path(), &image);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(replay.entries.len(), ranges.len() - 1);
    assert!(matches!(
        replay.truncated.unwrap().reason,
        FrameDefect::BadChecksum { .. }
    ));
}

#[test]
fn wrong_magic_is_refused_naming_the_path() {
    for content in [&b"x"[..], b"TNDMJRNX", b"not a journal at all, just text\n"] {
        let mem = MemBackend::new();
        mem.set_contents(&path(), content);
        let err = Journal::open(path(), Options::with_backend(mem.clone())).unwrap_err();
        assert!(matches!(err, JournalError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("/j/zone.journal"), "{err}");
        assert_eq!(mem.contents(&path()).unwrap(), content);
    }
}

#[test]
fn unknown_version_is_refused() {
    let (mut image, _) = build_image();
    image[8] = 2;
    let mem = MemBackend::new();
    mem.set_contents(&path(), &image);
    let err = Journal::open(path(), Options::with_backend(mem)).unwrap_err();
    assert!(
        matches!(err, JournalError::UnsupportedVersion { found: 2, .. }),
        "{err}"
    );
}

#[test]
fn missing_file_without_create_is_an_error() {
    let opts = Options {
        create: false,
        ..Options::with_backend(MemBackend::new())
    };
    let err = Journal::open(Path::new("/j/none"), opts).unwrap_err();
    assert!(matches!(err, JournalError::Io { op: "open", .. }), "{err}");
}

#[test]
fn second_open_of_a_locked_file_fails() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("j");
    let (_j, _) = Journal::open(&file, Options::with_backend(FileBackend)).unwrap();
    let err = Journal::open(&file, Options::default()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
}
