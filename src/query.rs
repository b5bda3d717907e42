//! From request bytes to response bytes: the whole query path.
//!
//! Parses the request ([`crate::wire::request`]), applies the protocol rules
//! that come before any lookup (opcode, class, EDNS version, zone transfers,
//! meta types), resolves the question ([`crate::lookup`]) and writes the
//! response within the transport's size limit, setting TC when a required
//! RRset does not fit (RFC 1035 §4.2.1, RFC 2181 §9, RFC 6891 §7). Every
//! failure inside becomes an RCODE here, in one place: a store error is a
//! SERVFAIL with a log line, never a silent drop. It owns no sockets.

use tracing::{debug, error};

use crate::catalog::Catalog;
use crate::lookup::{Answer, Resolver, RrsetOut};
use crate::server_identity::ServerIdentity;
use crate::wire::request::{self, Query, Rejection};
use crate::wire::response::{Full, Header, OptRecord, ResponseWriter, Section};
use crate::wire::{CLASS_CH, CLASS_IN, rcode, rtype};

/// The UDP payload size this server advertises and uses at most
/// (DNS Flag Day 2020 value; RFC 6891 §6.2.5).
pub const ADVERTISED_UDP_PAYLOAD: u16 = 1232;

/// How the query arrived; decides the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Lower-case name, for logs and metric labels.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// Answers one request packet; `None` means send nothing (RFC 1035 §4.1.1:
/// unreadable headers and responses are dropped). `identity` answers NSID
/// and CH TXT `id.server.` when configured.
pub fn answer_packet(
    catalog: &Catalog,
    identity: &ServerIdentity,
    packet: &[u8],
    transport: Transport,
) -> Option<Vec<u8>> {
    let query = match request::parse(packet) {
        Ok(query) => query,
        Err(Rejection::Drop) => return None,
        Err(Rejection::FormErr {
            id,
            opcode,
            flags,
            edns,
        }) => {
            debug!(id, "malformed query: FORMERR");
            let header = Header {
                id,
                opcode,
                request_flags: flags,
                authoritative: false,
                rcode: rcode::FORMERR,
            };
            // RFC 6891 §7: a request with an OPT gets one back, even a FORMERR.
            let opt = response_opt(edns, identity);
            return Some(ResponseWriter::new(512).finish(header, false, opt));
        }
        Err(Rejection::NotImp { id, opcode }) => {
            // No flags are copied: RD and CD mean something only in a QUERY.
            let header = Header {
                id,
                opcode,
                request_flags: 0,
                authoritative: false,
                rcode: rcode::NOTIMP,
            };
            return Some(ResponseWriter::new(512).finish(header, false, None));
        }
    };
    Some(answer_query(catalog, identity, &query, transport))
}

/// The OPT record of a response to a request with EDNS `edns`.
fn response_opt(edns: Option<request::Edns>, identity: &ServerIdentity) -> Option<OptRecord<'_>> {
    edns.map(|edns| OptRecord {
        udp_payload: ADVERTISED_UDP_PAYLOAD,
        // RFC 3225 §3: the DO bit is copied into the response.
        dnssec_ok: edns.dnssec_ok,
        // RFC 5001 §2.1: NSID only to a request that asks for it.
        nsid: identity.nsid().filter(|_| edns.nsid),
        compact_ok: false,
    })
}

/// TSIG error BADKEY (RFC 8945 §5.2.1).
const TSIG_BADKEY: u16 = 17;

/// The unsigned TSIG record of an error response (RFC 8945 §5.3.2): the
/// request's key and algorithm names, time and fudge, no MAC, the error.
fn tsig_error_record(tsig: &request::TsigRecord<'_>, error: u16) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(tsig.algorithm.len() + 16);
    rdata.extend_from_slice(tsig.algorithm);
    rdata.extend_from_slice(tsig.time_and_fudge);
    rdata.extend_from_slice(&0u16.to_be_bytes()); // MAC size
    rdata.extend_from_slice(&tsig.original_id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&0u16.to_be_bytes()); // other length
    let mut record = Vec::with_capacity(tsig.key_name.len() + 10 + rdata.len());
    record.extend_from_slice(tsig.key_name);
    record.extend_from_slice(&rtype::TSIG.to_be_bytes());
    record.extend_from_slice(&rtype::ANY.to_be_bytes()); // class ANY
    record.extend_from_slice(&0u32.to_be_bytes());
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    record
}

fn size_limit(query: &Query<'_>, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => usize::from(u16::MAX),
        // RFC 6891 §6.2.5: values below 512 are treated as 512.
        Transport::Udp => match query.edns {
            Some(edns) => usize::from(edns.udp_payload.clamp(512, ADVERTISED_UDP_PAYLOAD)),
            None => 512,
        },
    }
}

fn answer_query(
    catalog: &Catalog,
    identity: &ServerIdentity,
    query: &Query<'_>,
    transport: Transport,
) -> Vec<u8> {
    let opt = response_opt(query.edns, identity);
    let limit = size_limit(query, transport) - opt.map_or(0, |opt| opt.wire_len());
    let header = |rcode, authoritative| Header {
        id: query.id,
        opcode: query.opcode,
        request_flags: query.flags,
        authoritative,
        rcode,
    };
    let bare = |rcode: u16, with_question: bool| {
        let mut writer = ResponseWriter::new(limit);
        if with_question {
            writer.question(query.question);
        }
        writer.finish(header(rcode, false), false, opt)
    };
    // RFC 6891 §6.1.3: a version we do not implement gets BADVERS, version 0.
    if query.edns.is_some_and(|edns| edns.version > 0) {
        return bare(rcode::BADVERS, true);
    }
    if query.opcode == request::OPCODE_NOTIFY {
        // RFC 1996: answered (same ID, opcode NOTIFY, question echoed) so
        // the sender stops retrying. For a zone this server is a secondary
        // for, it checks its primary at once (§3.11; the refresh asks the
        // primary, so a forged NOTIFY costs one SOA query); for a zone it is
        // primary for, REFUSED; for any other, NOTAUTH.
        let name = crate::wire::name_from_wire(query.qname).map(|name| name.to_lowercase());
        if let Some(state) = name.as_ref().and_then(|name| catalog.secondary(name)) {
            state.refresh.notify_one();
            let mut writer = ResponseWriter::new(limit);
            writer.question(query.question);
            return writer.finish(header(rcode::NOERROR, true), false, opt);
        }
        let served = name.is_some_and(|name| catalog.zone(&name).is_some());
        return bare(
            if served {
                rcode::REFUSED
            } else {
                rcode::NOTAUTH
            },
            true,
        );
    }
    // RFC 8945 §5.2.1: no key is configured here, so every key is unknown:
    // NOTAUTH with TSIG error BADKEY, never an unsigned normal answer.
    if let Some(tsig) = &query.tsig {
        let mut writer = ResponseWriter::new(limit);
        writer.question(query.question);
        writer.trailing_record(tsig_error_record(tsig, TSIG_BADKEY));
        return writer.finish(header(rcode::NOTAUTH, false), false, opt);
    }
    if query.qclass == CLASS_CH
        && matches!(query.qtype, rtype::TXT | rtype::ANY)
        && let Some(txt) = identity.chaos_txt(query.qname)
    {
        // RFC 4892 §2.2: the identity as one TXT string, TTL 0, authoritative.
        let mut writer = ResponseWriter::new(limit);
        writer.question(query.question);
        let _ = writer.rrset_in_class(
            Section::Answer,
            query.qname,
            CLASS_CH,
            rtype::TXT,
            0,
            std::iter::once(txt),
        );
        return writer.finish(header(rcode::NOERROR, true), false, opt);
    }
    if query.qclass != CLASS_IN {
        return bare(rcode::REFUSED, true);
    }
    match query.qtype {
        // Zone transfers are not offered (yet): refuse them as Knot does without an ACL.
        rtype::AXFR | rtype::IXFR => return bare(rcode::REFUSED, true),
        // RFC 6891 §6.1.1: OPT is not a question. (MAILA and MAILB are
        // looked up like any type: no RRset has them, so NODATA, as Knot.)
        rtype::OPT => return bare(rcode::FORMERR, true),
        // RFC 9824 §2: NXNAME is a meta type that only appears in bitmaps.
        crate::dnssec::NXNAME => return bare(rcode::FORMERR, true),
        _ => {}
    }
    let cache = catalog.answer_cache();
    // A response carrying NSID is not what a cached one for the same
    // question holds; those few requests bypass the cache.
    let key = cache
        .key(query, limit)
        .filter(|_| opt.is_none_or(|o| o.nsid.is_none()));
    if let Some(key) = &key
        && let Some(response) = cache.get(key, query)
    {
        return response;
    }
    let zones = catalog.zones();
    let resolver = Resolver {
        zones: &zones,
        store: catalog.store(),
    };
    match resolver.resolve(query.qname, query.qtype) {
        Ok(answer)
            if answer.rcode == rcode::REFUSED
                && crate::wire::name_from_wire(query.qname)
                    .is_some_and(|name| catalog.in_expired_zone(&name.to_lowercase())) =>
        {
            // RFC 1035 §4.3.5: a secondary past EXPIRE no longer answers.
            bare(rcode::SERVFAIL, true)
        }
        Ok(answer) => {
            let signer = query
                .edns
                .filter(|edns| edns.dnssec_ok)
                .and(answer.zone.as_ref())
                .and_then(|zone| catalog.signer(&zone.origin_key));
            let response = match signer {
                Some(signer) => write_signed_answer(catalog, query, &answer, limit, opt, signer),
                None => write_answer(query, &answer, limit, opt),
            };
            // Names in no served zone are not cached: they cannot fill it.
            // Signed answers are not either: their signatures expire, and the
            // signer keeps its own cache of what can be reused.
            if let Some(key) = key
                && signer.is_none()
                && answer.rcode != rcode::REFUSED
                && answer.rcode != rcode::SERVFAIL
            {
                cache.insert(key, &response);
            }
            response
        }
        Err(e) => {
            error!(error = %e, "store read failed while answering; SERVFAIL");
            bare(rcode::SERVFAIL, true)
        }
    }
}

fn write_section(
    writer: &mut ResponseWriter,
    section: Section,
    rrsets: &[RrsetOut<'_>],
) -> Result<(), Full> {
    for out in rrsets {
        writer.rrset(
            section,
            &out.owner,
            out.record_type,
            out.ttl,
            out.rrset.rdatas(),
        )?;
    }
    Ok(())
}

/// One RRset and, when authoritative data of a signed zone, its RRSIG.
fn write_signed_rrset(
    writer: &mut ResponseWriter,
    section: Section,
    out: &RrsetOut<'_>,
    signer: Option<&crate::dnssec::ZoneSigner>,
) -> Result<(), Full> {
    writer.rrset(
        section,
        &out.owner,
        out.record_type,
        out.ttl,
        out.rrset.rdatas(),
    )?;
    if let Some(signer) = signer {
        let rrsigs = signer.signatures(&out.owner, out.record_type, out.ttl, out.rrset.rdatas());
        writer.rrset(
            section,
            &out.owner,
            crate::dnssec::sign::RRSIG,
            out.ttl,
            rrsigs.iter().map(Vec::as_slice),
        )?;
    }
    Ok(())
}

/// The answer of a signed zone to a query with DO=1 (RFC 4035 §3.1,
/// RFC 9824): authoritative RRsets with their RRSIGs; a negative answer
/// becomes NOERROR with the SOA and one NSEC owned by the name asked — next
/// name `\000.qname`, bitmap the types that exist there (RRSIG NSEC NXNAME
/// when the name does not exist) — so it proves nothing about any other
/// name. Glue and other additional data are not signed.
fn write_signed_answer(
    catalog: &Catalog,
    query: &Query<'_>,
    answer: &Answer<'_>,
    limit: usize,
    opt: Option<OptRecord<'_>>,
    signer: &crate::dnssec::ZoneSigner,
) -> Vec<u8> {
    use crate::dnssec::{NSEC, NXNAME, compact_nsec, sign::RRSIG};
    let mut writer = ResponseWriter::new(limit);
    writer.question(query.question);
    let authoritative = answer.authoritative.then_some(signer);
    let mut rcode = answer.rcode;
    let mut compact_ok = false;
    let mut truncated = false;
    for out in &answer.answer {
        if write_signed_rrset(&mut writer, Section::Answer, out, authoritative).is_err() {
            truncated = true;
            break;
        }
    }
    let negative = answer.answer.is_empty()
        && !answer.referral
        && answer.authoritative
        && matches!(answer.rcode, rcode::NOERROR | rcode::NXDOMAIN);
    // A question for the signatures themselves (type RRSIG) at a name that
    // has data: the RRSIGs of every RRset there, as Knot answers it.
    if negative
        && answer.rcode == rcode::NOERROR
        && query.qtype == RRSIG
        && let Some(zone) = answer.zone.as_ref()
        && let Some(node) = crate::wire::name_from_wire(query.qname).and_then(|name| {
            let key = zone.node_key(&crate::name_key::name_key(&name.to_lowercase()));
            catalog.store().node(&key).ok().flatten()
        })
    {
        let rrsigs: Vec<Vec<u8>> = node
            .rrsets()
            .flat_map(|(record_type, rrset)| {
                signer.signatures(query.qname, record_type, rrset.ttl(), rrset.rdatas())
            })
            .collect();
        let ttl = node
            .rrsets()
            .map(|(_, rrset)| rrset.ttl())
            .min()
            .unwrap_or(0);
        let truncated = writer
            .rrset(
                Section::Answer,
                query.qname,
                RRSIG,
                ttl,
                rrsigs.iter().map(Vec::as_slice),
            )
            .is_err();
        let header = reply_header(query, true, rcode::NOERROR);
        return writer.finish(header, truncated, opt);
    }
    if negative && !signer.may_sign_negative() {
        // The signing budget is spent: shed this signed denial rather than
        // slow everything else down (counted in the signer).
        let mut writer = ResponseWriter::new(limit);
        writer.question(query.question);
        let header = reply_header(query, false, rcode::SERVFAIL);
        return writer.finish(header, false, opt);
    }
    if !truncated
        && negative
        && let Some(soa) = answer.authority.first()
    {
        let types: Vec<u16> = if answer.rcode == rcode::NXDOMAIN {
            // RFC 9824 §3.1: the name "exists" with nothing but the proof —
            // NOERROR, unless the client set Compact Answers OK (§4): then
            // NXDOMAIN is restored and the flag echoed.
            match query.edns {
                Some(edns) if edns.compact_ok => compact_ok = true,
                _ => rcode = rcode::NOERROR,
            }
            vec![RRSIG, NSEC, NXNAME]
        } else {
            let mut types = answer
                .zone
                .as_ref()
                .zip(crate::wire::name_from_wire(query.qname))
                .and_then(|(zone, name)| {
                    let node = zone.node_key(&crate::name_key::name_key(&name.to_lowercase()));
                    catalog.store().node(&node).ok().flatten()
                })
                .map(|node| node.rrsets().map(|(t, _)| t).collect::<Vec<u16>>())
                .unwrap_or_default();
            types.extend([RRSIG, NSEC]);
            types
        };
        let nsec = compact_nsec(query.qname, &types);
        let nsec_ttl = soa.ttl;
        let rrsig = signer.sign(
            query.qname,
            NSEC,
            nsec_ttl,
            std::iter::once(nsec.as_slice()),
        );
        truncated = write_signed_rrset(&mut writer, Section::Authority, soa, Some(signer)).is_err()
            || writer
                .rrset(
                    Section::Authority,
                    query.qname,
                    NSEC,
                    nsec_ttl,
                    std::iter::once(nsec.as_slice()),
                )
                .is_err()
            || writer
                .rrset(
                    Section::Authority,
                    query.qname,
                    RRSIG,
                    nsec_ttl,
                    std::iter::once(rrsig.as_slice()),
                )
                .is_err();
    } else if !truncated && answer.referral {
        // RFC 4035 §3.1.4: the NS of a cut are not signed; the DS is, or
        // its absence is proved — RFC 9824 §3.3: an NSEC at the cut with
        // next name `sub\000.zone` and types NS RRSIG NSEC.
        for out in &answer.authority {
            truncated |= writer
                .rrset(
                    Section::Authority,
                    &out.owner,
                    out.record_type,
                    out.ttl,
                    out.rrset.rdatas(),
                )
                .is_err();
        }
        if let (Some(cut), Some(zone), false) =
            (answer.authority.first(), answer.zone.as_ref(), truncated)
        {
            let ds = crate::wire::name_from_wire(&cut.owner).and_then(|name| {
                let key =
                    zone.rrset_key(&crate::name_key::name_key(&name.to_lowercase()), rtype::DS);
                catalog.store().rrset(&key).ok().flatten()
            });
            truncated = match ds {
                Some(ds) => {
                    let out = RrsetOut {
                        owner: cut.owner.clone(),
                        record_type: rtype::DS,
                        ttl: ds.ttl(),
                        rrset: ds,
                    };
                    write_signed_rrset(&mut writer, Section::Authority, &out, Some(signer)).is_err()
                }
                None => {
                    let nsec = crate::dnssec::delegation_nsec(&cut.owner);
                    let ttl = zone.negative_ttl;
                    let rrsig =
                        signer.sign(&cut.owner, NSEC, ttl, std::iter::once(nsec.as_slice()));
                    writer
                        .rrset(
                            Section::Authority,
                            &cut.owner,
                            NSEC,
                            ttl,
                            std::iter::once(nsec.as_slice()),
                        )
                        .is_err()
                        || writer
                            .rrset(
                                Section::Authority,
                                &cut.owner,
                                RRSIG,
                                ttl,
                                std::iter::once(rrsig.as_slice()),
                            )
                            .is_err()
                }
            };
        }
    } else if !truncated {
        for out in &answer.authority {
            if write_signed_rrset(&mut writer, Section::Authority, out, authoritative).is_err() {
                truncated = true;
                break;
            }
        }
    }
    if !truncated {
        truncated = write_additional(&mut writer, answer);
    }
    let header = reply_header(query, answer.authoritative, rcode);
    let opt = opt.map(|opt| OptRecord { compact_ok, ..opt });
    writer.finish(header, truncated, opt)
}

/// The header of a reply to `query`.
fn reply_header(query: &Query<'_>, authoritative: bool, rcode: u16) -> Header {
    Header {
        id: query.id,
        opcode: query.opcode,
        request_flags: query.flags,
        authoritative,
        rcode,
    }
}

/// The additional section; whether the message must be truncated (glue of
/// a referral that does not fit, RFC 9471 §3; other additional data is
/// simply left out, RFC 2181 §9).
fn write_additional(writer: &mut ResponseWriter, answer: &Answer<'_>) -> bool {
    for out in &answer.additional {
        let fits = writer
            .rrset(
                Section::Additional,
                &out.owner,
                out.record_type,
                out.ttl,
                out.rrset.rdatas(),
            )
            .is_ok();
        if !fits && answer.referral {
            return true;
        }
    }
    false
}

fn write_answer(
    query: &Query<'_>,
    answer: &Answer<'_>,
    limit: usize,
    opt: Option<OptRecord<'_>>,
) -> Vec<u8> {
    let mut writer = ResponseWriter::new(limit);
    writer.question(query.question);
    // RFC 2181 §9: TC only when required data (answer, authority, or the
    // glue of a referral, RFC 9471 §3) does not fit; other additional data
    // is simply left out.
    let mut truncated = write_section(&mut writer, Section::Answer, &answer.answer).is_err();
    if !truncated {
        truncated = write_section(&mut writer, Section::Authority, &answer.authority).is_err();
    }
    if !truncated {
        truncated = write_additional(&mut writer, answer);
    }
    let header = reply_header(query, answer.authoritative, answer.rcode);
    writer.finish(header, truncated, opt)
}
