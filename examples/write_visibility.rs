//! Benchmark helper (not a test): how long from an admin write to its answer
//! over DNS. For each of COUNT identifiers it PUTs one mapping through the
//! admin socket, then queries the hashed name over UDP until it is answered,
//! and prints p50/p99 of (request sent → acknowledged) and (request sent →
//! visible over DNS).
//!
//! DNS_ADDR may be a secondary (Knot, NSD): then it measures write →
//! NOTIFY → IXFR → visible there.
//!
//! Usage: write_visibility SOCKET DNS_ADDR ZONE [COUNT=1000]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hyper::Method;
use mimidns::admin::api::{PutIdentifier, WriteResult};
use mimidns::admin::client::{AdminClient, encode_segment};
use mimidns::identifier::hash_identifier;
use mimidns::mapping::Mapping;

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn answered(socket: &UdpSocket, server: SocketAddr, name: &Name, id: u16) -> bool {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name.clone(), RecordType::TXT));
    let Ok(bytes) = message.to_vec() else {
        return false;
    };
    if socket.send_to(&bytes, server).is_err() {
        return false;
    }
    let mut buffer = [0u8; 4096];
    match socket.recv_from(&mut buffer) {
        Ok((length, _)) => {
            Message::from_vec(&buffer[..length]).is_ok_and(|m| !m.answers.is_empty())
        }
        Err(_) => false,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        anyhow::bail!("usage: write_visibility SOCKET DNS_ADDR ZONE [COUNT]");
    }
    let client = AdminClient::new(std::path::Path::new(&args[1]));
    let server: SocketAddr = args[2].parse()?;
    let zone = args[3].trim_end_matches('.').to_string();
    let count: usize = args.get(4).map(|c| c.parse()).transpose()?.unwrap_or(1000);
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let (mut acked, mut visible) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for i in 0..count {
        let identifier = format!("+4939{i:09}");
        let hashed = hash_identifier(&identifier)?;
        let name = Name::from_ascii(format!("{}._mimi.{zone}.", hashed.label))?;
        let body = PutIdentifier {
            mappings: vec![Mapping {
                provider: "chat.example".into(),
                ssi: format!("visibility-{i}"),
                target: format!("msg.{zone}"),
                port: None,
                alpn: vec!["h2".into()],
                priority: 1,
                tags: vec![],
            }],
        };
        let path = format!(
            "/v1/zones/{zone}./identifiers/{}",
            encode_segment(&hashed.reference())
        );
        let started = Instant::now();
        let _: WriteResult = client.call(Method::PUT, &path, Some(&body)).await?;
        acked.push(started.elapsed());
        // Polled every millisecond for up to 30 s (a secondary applies the
        // change only after NOTIFY and IXFR).
        let mut tries = 0u16;
        while !answered(&socket, server, &name, tries) {
            tries = tries.wrapping_add(1);
            if started.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("write {i} never became visible");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        visible.push(started.elapsed());
    }
    acked.sort();
    visible.sort();
    println!(
        "writes: {count}  ack p50 {:.2} ms p99 {:.2} ms  visible-over-DNS p50 {:.2} ms p99 {:.2} ms",
        percentile(&acked, 0.5),
        percentile(&acked, 0.99),
        percentile(&visible, 0.5),
        percentile(&visible, 0.99)
    );
    Ok(())
}
