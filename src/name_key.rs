//! Canonical-order store keys for domain names and RRsets.
//!
//! This module owns the one byte encoding that makes every query an ordered
//! lookup instead of a scan. A name is encoded label by label from the root
//! downwards; each label is lower-cased (RFC 4343), escaped so that no content
//! byte is `0x00`, and terminated by `0x00`. Because the terminator sorts below
//! every content byte, byte-wise key order equals DNS canonical order
//! (RFC 4034 §6.1), and every name below `N` has `key(N)` as a prefix:
//!
//! ```text
//!   example.test.            -> "test\0example\0"
//!   a.example.test.          -> "test\0example\0a\0"
//!   RRset (a.example.test, TXT) -> "test\0example\0a\0" 0x00 0x00 0x10
//! ```
//!
//! An RRset key is the name key, one more `0x00` (an "end of node" marker that
//! can never start a label) and the type as big-endian u16, so a node's own
//! RRsets sort before all of its descendants. It must not know about sled or
//! about DNS messages: it only turns names into bytes.

/// Marks the end of a node's name inside an RRset key.
pub const NODE_END: u8 = 0x00;

/// Appends one label, lower-cased and escaped, followed by its terminator.
///
/// Escaping keeps the order of raw bytes: `0x00 -> 01 01`, `0x01 -> 01 02`,
/// every other byte stands for itself.
pub fn push_label(key: &mut Vec<u8>, label: &[u8]) {
    for &byte in label {
        match byte {
            0x00 => key.extend_from_slice(&[0x01, 0x01]),
            0x01 => key.extend_from_slice(&[0x01, 0x02]),
            other => key.push(other.to_ascii_lowercase()),
        }
    }
    key.push(0x00);
}

/// Key of a name given as its labels in presentation order
/// (leftmost first, root excluded).
pub fn name_key_from_labels<'a, I>(labels: I) -> Vec<u8>
where
    I: DoubleEndedIterator<Item = &'a [u8]>,
{
    let mut key = Vec::with_capacity(64);
    for label in labels.rev() {
        push_label(&mut key, label);
    }
    key
}

/// Key of a hickory `Name`.
pub fn name_key(name: &hickory_proto::rr::Name) -> Vec<u8> {
    name_key_from_labels(name.iter())
}

/// Appends the end-of-node marker and the type to a name key.
pub fn push_rrset_suffix(key: &mut Vec<u8>, record_type: u16) {
    key.push(NODE_END);
    key.extend_from_slice(&record_type.to_be_bytes());
}

/// Key of the RRset of `record_type` at the name whose key is `name_key`.
pub fn rrset_key(name_key: &[u8], record_type: u16) -> Vec<u8> {
    let mut key = Vec::with_capacity(name_key.len() + 3);
    key.extend_from_slice(name_key);
    push_rrset_suffix(&mut key, record_type);
    key
}

/// Splits an RRset key into the name key and the record type.
pub fn split_rrset_key(key: &[u8]) -> Option<(&[u8], u16)> {
    if key.len() < 3 || key[key.len() - 3] != NODE_END {
        return None;
    }
    let (name, rest) = key.split_at(key.len() - 3);
    Some((name, u16::from_be_bytes([rest[1], rest[2]])))
}

/// Decodes a name key back into labels, leftmost first (for export and
/// diagnostics; never on the query path).
pub fn labels_from_name_key(key: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut labels = Vec::new();
    let mut current = Vec::new();
    let mut bytes = key.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            0x00 => labels.push(std::mem::take(&mut current)),
            0x01 => match bytes.next() {
                Some(0x01) => current.push(0x00),
                Some(0x02) => current.push(0x01),
                _ => return None,
            },
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        return None;
    }
    labels.reverse();
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;

    /// Parses presentation form with `\DDD` escapes into raw labels.
    fn key(text: &str) -> Vec<u8> {
        let labels: Vec<Vec<u8>> = text
            .trim_end_matches('.')
            .split('.')
            .map(|label| {
                let mut out = Vec::new();
                let bytes = label.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).expect("utf8");
                        out.push(digits.parse().expect("escape"));
                        i += 4;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                out
            })
            .collect();
        name_key(&Name::from_labels(labels).expect("test name"))
    }

    #[test]
    fn key_order_is_canonical_order() {
        // RFC 4034 §6.1 gives this list in canonical order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let keys: Vec<Vec<u8>> = names.iter().map(|n| key(n)).collect();
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{:?} !< {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn descendants_share_the_prefix_and_siblings_do_not() {
        let parent = key("foo.example.");
        assert!(key("a.foo.example.").starts_with(&parent));
        assert!(!key("foobar.example.").starts_with(&parent));
        assert_eq!(key("FOO.Example."), parent);
    }

    #[test]
    fn rrsets_of_a_node_sort_before_its_children() {
        let node = key("a.example.");
        let own = rrset_key(&node, 65535);
        let child = rrset_key(&key("\\000.a.example."), 1);
        assert!(own < child);
        assert_eq!(split_rrset_key(&own), Some((node.as_slice(), 65535)));
    }

    #[test]
    fn keys_round_trip_to_labels() {
        let k = key("\\000\\001x.Example.test.");
        let labels = labels_from_name_key(&k).expect("decodes");
        assert_eq!(
            labels,
            vec![b"\0\x01x".to_vec(), b"example".to_vec(), b"test".to_vec()]
        );
    }
}
