//! Outgoing zone transfers (RFC 5936 AXFR; IXFR per RFC 1995 answered with
//! the whole zone, which §4 allows when no history is at hand).

use tandem_dns_wire::{MessageWriter, Rcode, Section};

use crate::catalog::Catalog;
use crate::query::{error_reply, TransferRequest};

/// Largest transfer message; well under the 65535 TCP limit so a TSIG
/// record always fits after it.
const MESSAGE_LIMIT: usize = 16 * 1024;

/// The response stream for a transfer request, as whole messages, each
/// signed if the request was (RFC 8945 §5.3.1).
pub fn respond(catalog: &Catalog, req: &TransferRequest, now: u64) -> Vec<Vec<u8>> {
    let mut out = unsigned(catalog, req);
    if let Some(ctx) = &req.tsig {
        let mut signer = ctx.sequence_signer();
        for m in &mut out {
            let _ = signer.sign(m, now);
        }
    }
    out
}

fn unsigned(catalog: &Catalog, req: &TransferRequest) -> Vec<Vec<u8>> {
    let key = req.tsig.as_ref().map(|c| &c.key().name);
    let msg = &req.message;
    let q = &msg.questions[0];
    let Some(entry) = catalog.get(&req.zone) else {
        return vec![error_reply(&msg.header, Some(q), None, Rcode::NOTAUTH)];
    };
    if !entry.policy.allow_transfer.allows(req.source.addr, key) {
        tracing::info!(
            "client {}: zone {}: zone transfer denied",
            req.source.addr,
            req.zone
        );
        return vec![error_reply(&msg.header, Some(q), None, Rcode::REFUSED)];
    }
    let zone = &entry.zone;
    let Some(soa) = zone.soa_record() else {
        return vec![error_reply(&msg.header, Some(q), None, Rcode::SERVFAIL)];
    };
    let mut header = msg.header;
    header.qr = true;
    header.aa = true;
    header.rcode = Rcode::NOERROR;
    let mut out = Vec::new();
    let mut w = MessageWriter::new(header, MESSAGE_LIMIT);
    w.push_question(q);
    // `records()` yields the SOA first; the stream also ends with it.
    for r in zone.records().chain(std::iter::once(soa)) {
        if w.push(Section::Answer, &r).is_err() {
            out.push(std::mem::replace(&mut w, MessageWriter::new(header, MESSAGE_LIMIT)).finish());
            if w.push(Section::Answer, &r).is_err() {
                // A single record larger than a message cannot be sent.
                return vec![error_reply(&msg.header, Some(q), None, Rcode::SERVFAIL)];
            }
        }
    }
    out.push(w.finish());
    tracing::info!(
        "client {}: transfer of '{}/IN': AXFR ended: {} messages, serial {}",
        req.source.addr,
        req.zone,
        out.len(),
        zone.serial()
    );
    out
}
