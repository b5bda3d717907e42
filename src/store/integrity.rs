//! Checksums on stored values: every value in the `nodes` tree ends in a
//! CRC-32 of its key and value, written by [`seal`] and checked by
//! [`unseal`] on every read, so a flipped byte on disk is an error, never
//! data. It knows nothing of what the values mean.

use super::StoreError;

/// Length of the checksum trailer of every value in `nodes`.
pub(super) const CHECKSUM_LEN: usize = 4;

/// CRC-32 over the key and the value: a value moved to another key fails too.
fn checksum(key: &[u8], value: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(key.len() as u32).to_be_bytes());
    hasher.update(key);
    hasher.update(value);
    hasher.finalize().to_be_bytes()
}

/// A value as stored: `value ‖ checksum(key, value)`.
pub(super) fn seal(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(value.len() + CHECKSUM_LEN);
    sealed.extend_from_slice(value);
    sealed.extend_from_slice(&checksum(key, value));
    sealed
}

/// The value of a stored entry after its checksum is checked.
pub(super) fn unseal(key: &[u8], stored: sled::IVec) -> Result<sled::IVec, StoreError> {
    let corrupt = |reason| StoreError::Corrupt {
        key: data_encoding::HEXLOWER.encode(key),
        reason,
    };
    let length = stored
        .len()
        .checked_sub(CHECKSUM_LEN)
        .ok_or_else(|| corrupt("is shorter than its checksum"))?;
    if stored[length..] != checksum(key, &stored[..length]) {
        return Err(corrupt("fails its checksum"));
    }
    Ok(stored.subslice(0, length))
}
