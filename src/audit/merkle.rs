//! Merkle tree hash (RFC 9162 §2.1.1) over the sorted heads of every stream.
//!
//! Leaf data for a head is the length-prefixed encoding (as in `chain`) of
//! `stream`, `seq` (decimal) and `hash` (hex), after the tag `AXHEAD1`.
//! `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || left || right)`, the tree splits at
//! the largest power of two smaller than the number of leaves, and the empty tree hashes to
//! `SHA-256("")`.

use sha2::{Digest, Sha256};

/// A stream head: the last event's seq and hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Head {
    pub stream: String,
    pub seq: i64,
    pub hash: String,
}

fn put(buf: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

pub fn leaf_hash(head: &Head) -> [u8; 32] {
    let mut data = b"AXHEAD1".to_vec();
    put(&mut data, &head.stream);
    put(&mut data, &head.seq.to_string());
    put(&mut data, &head.hash);
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(&data);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The tree hash of leaf hashes, in order.
pub fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The root over heads sorted by stream name, as hex.
pub fn root_of(heads: &[Head]) -> String {
    let mut sorted: Vec<&Head> = heads.iter().collect();
    sorted.sort_by(|a, b| a.stream.cmp(&b.stream));
    let leaves: Vec<[u8; 32]> = sorted.into_iter().map(leaf_hash).collect();
    hex::encode(tree_hash(&leaves))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u8) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0u8, i]);
        h.finalize().into()
    }

    #[test]
    fn empty_tree_is_the_hash_of_nothing() {
        assert_eq!(
            hex::encode(tree_hash(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn three_leaves_split_two_and_one() {
        let l = [leaf(0), leaf(1), leaf(2)];
        let expected = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        assert_eq!(tree_hash(&l), expected);
    }

    #[test]
    fn five_leaves_split_four_and_one() {
        let l: Vec<[u8; 32]> = (0..5).map(leaf).collect();
        let left = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
        assert_eq!(tree_hash(&l), node_hash(&left, &l[4]));
    }

    #[test]
    fn root_does_not_depend_on_input_order_but_on_every_head() {
        let a = Head {
            stream: "user:1".into(),
            seq: 3,
            hash: "aa".into(),
        };
        let b = Head {
            stream: "listing:9".into(),
            seq: 1,
            hash: "bb".into(),
        };
        assert_eq!(
            root_of(&[a.clone(), b.clone()]),
            root_of(&[b.clone(), a.clone()])
        );
        let mut b2 = b.clone();
        b2.seq = 2;
        assert_ne!(root_of(&[a.clone(), b]), root_of(&[a, b2]));
    }
}
