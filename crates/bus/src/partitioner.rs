//! Which partition a key goes to: the same choice as Kafka's Java client
//! (its default partitioner for keyed records) and librdkafka's
//! `murmur2_random` partitioner, so that a key lands on the same
//! partition whichever backend carries it.
//!
//! The hash is MurmurHash2 (32-bit) with the seed the Java client uses,
//! reading the key four bytes at a time little-endian; the partition is
//! the hash with its sign bit cleared, modulo the partition count. Note
//! that librdkafka's own default partitioner (`consistent_random`) hashes
//! differently: a Kafka producer must be configured with
//! `partitioner=murmur2_random`, or be handed the partition from
//! [`partition_for_key`], to agree with the embedded bus.

use crate::error::BusError;
use crate::topic::Topic;

/// The seed of the Java client's murmur2.
const SEED: u32 = 0x9747_b28c;
/// The mixing multiplier of MurmurHash2.
const MULTIPLIER: u32 = 0x5bd1_e995;
/// The mixing shift of MurmurHash2.
const SHIFT: u32 = 24;

/// MurmurHash2 of `key` as Kafka computes it, as an unsigned number (the
/// Java client's `int` reinterpreted).
pub fn murmur2(key: &[u8]) -> u32 {
    // The Java client mixes in the length as a 32-bit int.
    let mut hash = SEED ^ key.len() as u32;

    let mut words = key.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(MULTIPLIER);
        k ^= k >> SHIFT;
        k = k.wrapping_mul(MULTIPLIER);
        hash = hash.wrapping_mul(MULTIPLIER);
        hash ^= k;
    }

    let tail = words.remainder();
    if !tail.is_empty() {
        for (place, &byte) in tail.iter().enumerate().rev() {
            hash ^= u32::from(byte) << (8 * place);
        }
        hash = hash.wrapping_mul(MULTIPLIER);
    }

    hash ^= hash >> 13;
    hash = hash.wrapping_mul(MULTIPLIER);
    hash ^= hash >> 15;
    hash
}

/// The partition, out of `partitions`, that records with `key` go to.
///
/// # Panics
///
/// If `partitions` is zero: every topic has at least one partition, so a
/// caller passing zero has a bug.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "bug: a topic with no partitions");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// The partition a record goes to: `explicit` if given, else the one
/// its key hashes to; an explicit partition the topic lacks is an error.
pub(crate) fn choose_partition(
    topic: Topic,
    explicit: Option<u32>,
    key: &[u8],
    partitions: u32,
) -> Result<u32, BusError> {
    match explicit {
        Some(partition) if partition < partitions => Ok(partition),
        Some(partition) => Err(BusError::UnknownPartition {
            topic: topic.base_name().to_owned(),
            partition,
            partitions,
        }),
        None => Ok(partition_for_key(key, partitions)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The vectors of `UtilsTest.testMurmur2` in Apache Kafka's Java
    /// client, as the Java `int`s it asserts.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// The vectors of librdkafka's own murmur2 unit test, which checks it
    /// against the Java client: hashes with the sign bit cleared, as the
    /// partitioners use them.
    #[test]
    fn murmur2_matches_librdkafka() {
        let cases: [(&[u8], u32); 3] = [
            (b"kafka", 1_348_980_580),
            (b"amqp", 767_747_138),
            (b"giberish123456789", 257_239_820),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) & 0x7fff_ffff,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn a_key_goes_to_its_hash_without_sign_bit_modulo_the_partitions() {
        // murmur2("foobar") is -790332482 as a Java int: 0xd0e47bbe. With
        // the sign bit cleared it is 0x50e47bbe = 1357151166.
        assert_eq!(partition_for_key(b"foobar", 1), 0);
        assert_eq!(partition_for_key(b"foobar", 7), 0);
        assert_eq!(partition_for_key(b"foobar", 1000), 166);
        assert_eq!(partition_for_key(b"foobar", 1_357_151_167), 1_357_151_166);
    }

    proptest! {
        #[test]
        fn every_key_lands_in_range_and_always_in_the_same_place(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            partitions in 1_u32..512,
        ) {
            let partition = partition_for_key(&key, partitions);
            prop_assert!(partition < partitions);
            prop_assert_eq!(partition, partition_for_key(&key, partitions));
        }
    }
}
