//! The global transparency log: one RFC 6962 / RFC 9162 Merkle tree over every audit event in
//! the order the events were appended.
//!
//! Leaf `i` is the i-th event appended (0-based); its leaf hash is
//! `SHA-256(0x00 || h)` where `h` is the event's 32-byte hash (the hex `hash` of the chain,
//! decoded). Interior nodes are `SHA-256(0x01 || left || right)`. The store keeps every
//! complete (perfect) subtree as a node `(level, index)`, covering leaves
//! `[index·2^level, (index+1)·2^level)`; any other subtree of any tree size is a fold of at most
//! `log2 n` of those, so proofs cost O(log n) node reads.
//!
//! This module is pure: appending ([`Frontier`]), proof generation over a [`NodeSource`] and
//! proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The leaf hash of an event hash given as hex (`None` if it is not 32 bytes of hex).
pub fn leaf_hash_hex(event_hash: &str) -> Option<Hash> {
    Some(leaf_hash(&decode_hex32(event_hash)?))
}

/// 32 bytes from 64 hex digits of either case (as `hex::decode_to_slice` reads them), by
/// table.
fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    const BAD: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut t = [BAD; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = (TABLE[usize::from(pair[0])], TABLE[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree: the perfect subtrees covering `[0, size)`, largest first
/// (one per set bit of `size`). Enough to append and to compute the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    pub size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    pub nodes: Vec<(u32, Hash)>,
}

/// A node made complete by an append, to be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNode {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

impl Frontier {
    /// Rebuilds a frontier from its stored encoding (hashes concatenated, largest first).
    pub fn decode(size: u64, bytes: &[u8]) -> Option<Self> {
        let levels: Vec<u32> = (0..64).rev().filter(|l| (size >> l) & 1 == 1).collect();
        if bytes.len() != levels.len() * 32 {
            return None;
        }
        let nodes = levels
            .into_iter()
            .zip(bytes.chunks_exact(32))
            .map(|(l, c)| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                (l, h)
            })
            .collect();
        Some(Self { size, nodes })
    }

    pub fn encode(&self) -> Vec<u8> {
        self.nodes
            .iter()
            .flat_map(|(_, h)| h.iter().copied())
            .collect()
    }

    /// Appends a leaf hash; calls `made` with each node that became complete (the leaf
    /// first).
    fn fold(&mut self, leaf: Hash, mut made: impl FnMut(NewNode)) {
        let index = self.size;
        made(NewNode {
            level: 0,
            index,
            hash: leaf,
        });
        self.carry(0, leaf, |level, hash| {
            made(NewNode {
                level,
                index: index >> level,
                hash,
            });
        });
        self.size += 1;
    }

    /// Puts a complete subtree of `level` on the right edge, folded with the nodes of its
    /// level before it; calls `made` with each node the folding completes. The size is the
    /// caller's to move.
    fn carry(&mut self, mut level: u32, mut cur: Hash, mut made: impl FnMut(u32, Hash)) {
        while let Some(&(l, left)) = self.nodes.last() {
            if l != level {
                break;
            }
            self.nodes.pop();
            cur = node_hash(&left, &cur);
            level += 1;
            made(level, cur);
        }
        self.nodes.push((level, cur));
    }

    /// Appends a leaf hash; returns the nodes that became complete (the leaf first).
    pub fn append(&mut self, leaf: Hash) -> Vec<NewNode> {
        let mut made = Vec::new();
        self.fold(leaf, |n| made.push(n));
        made
    }

    /// [`Frontier::append`] without the list of new nodes (a verifier only needs the roots).
    pub fn push(&mut self, leaf: Hash) {
        self.fold(leaf, |_| ());
    }

    /// The tree hash of `[0, size)`.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some((_, last)) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }
}

impl Frontier {
    /// Appends the leaves a [`PartTree`] holds, which must start at this frontier's size;
    /// answers `false` (and changes nothing) if it does not.
    pub fn extend(&mut self, part: &PartTree) -> bool {
        if part.start != self.size {
            return false;
        }
        for &(level, hash) in &part.nodes {
            self.carry(level, hash, |_, _| ());
        }
        self.size += part.size;
        true
    }
}

/// The leaves `[start, start + size)` of a larger tree folded as far as they can be without
/// the leaves before `start`: the perfect subtrees of the whole tree that lie inside the
/// range, in order, the widest each leaf completes. The frontier of `[0, start)` extended by
/// them ([`Frontier::extend`]) is the frontier of `[0, start + size)`, so the parts of a long
/// log can be folded at once on several threads and joined with a few hashes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTree {
    start: u64,
    size: u64,
    /// `(level, hash)`, in leaf order.
    nodes: Vec<(u32, Hash)>,
}

impl PartTree {
    pub fn new(start: u64) -> Self {
        Self {
            start,
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// The index of the next leaf.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    /// Appends the next leaf hash. A node whose left sibling is in the range (the node
    /// before it, of its level) is folded with it.
    pub fn push(&mut self, leaf: Hash) {
        let mut index = self.end();
        let mut level = 0;
        let mut cur = leaf;
        while index & 1 == 1 {
            match self.nodes.last() {
                Some(&(l, left)) if l == level => {
                    self.nodes.pop();
                    cur = node_hash(&left, &cur);
                    level += 1;
                    index >>= 1;
                }
                _ => break,
            }
        }
        self.nodes.push((level, cur));
        self.size += 1;
    }
}

/// Where proofs read complete nodes from.
pub trait NodeSource {
    /// The stored node `(level, index)`; `None` if it does not exist.
    fn node(&mut self, level: u32, index: u64) -> Option<Hash>;
}

impl NodeSource for HashMap<(u32, u64), Hash> {
    fn node(&mut self, level: u32, index: u64) -> Option<Hash> {
        self.get(&(level, index)).copied()
    }
}

/// Records which nodes a proof needs (answering zeros), so they can be read in one batch.
#[derive(Default)]
pub struct Wanted(pub Vec<(u32, u64)>);

impl NodeSource for Wanted {
    fn node(&mut self, level: u32, index: u64) -> Option<Hash> {
        self.0.push((level, index));
        Some([0; 32])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// The sizes or index asked are out of range.
    OutOfRange,
    /// A node the proof needs is not stored (the store is damaged).
    MissingNode(u32, u64),
}

/// The tree hash of leaves `[lo, hi)` (hi > lo).
fn range_hash(src: &mut dyn NodeSource, lo: u64, hi: u64) -> Result<Hash, ProofError> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return src
            .node(level, lo >> level)
            .ok_or(ProofError::MissingNode(level, lo >> level));
    }
    let k = split(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn root_at(src: &mut dyn NodeSource, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// The RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves, leaf to root.
pub fn inclusion_proof(
    src: &mut dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The RFC 9162 consistency proof between the trees of `old` and `new` leaves.
pub fn consistency_proof(
    src: &mut dyn NodeSource,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::OutOfRange);
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0, new, old);
    let mut whole = true;
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                path.push(range_hash(src, lo, hi)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &r == root
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    &fr == old_root && &sr == new_root && snode == 0
}

/// Parses a hex hash.
pub fn parse_hex(s: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).ok()?;
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Hash {
        let h: Hash = Sha256::digest(i.to_be_bytes()).into();
        leaf_hash(&h)
    }

    /// The frontier of `[0, n)` pushed leaf by leaf.
    fn pushed(n: u64) -> Frontier {
        let mut f = Frontier::default();
        (0..n).for_each(|i| f.push(leaf(i)));
        f
    }

    #[test]
    fn parts_folded_apart_and_joined_give_the_frontier_of_the_whole() {
        for n in 0..40u64 {
            let whole = pushed(n);
            for a in 0..=n {
                for b in a..=n {
                    // [0, a), then [a, b) and [b, n) each folded on its own.
                    let mut f = pushed(a);
                    let mut p1 = PartTree::new(a);
                    (a..b).for_each(|i| p1.push(leaf(i)));
                    let mut p2 = PartTree::new(b);
                    (b..n).for_each(|i| p2.push(leaf(i)));
                    assert!(f.extend(&p1) && f.extend(&p2), "{n} {a} {b}");
                    assert_eq!(f, whole, "{n} {a} {b}");
                    assert_eq!(f.root(), whole.root());
                }
            }
        }
        // A part that does not start where the frontier ends is refused.
        let mut f = pushed(5);
        let mut p = PartTree::new(6);
        p.push(leaf(6));
        assert!(!f.extend(&p));
        assert_eq!(f, pushed(5));
    }

    #[test]
    fn the_table_hex_decoder_reads_what_the_hex_crate_reads() {
        for i in 0..200u32 {
            let raw: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            let lower = hex::encode(raw);
            assert_eq!(decode_hex32(&lower), Some(raw));
            assert_eq!(decode_hex32(&lower.to_uppercase()), Some(raw));
        }
        let h = hex::encode([0xab; 32]);
        for bad in [
            &h[..62],
            &format!("{h}0"),
            &format!("{}g", &h[..63]),
            "",
            &format!("{} ", &h[..63]),
        ] {
            assert_eq!(decode_hex32(bad), None, "{bad:?}");
            let mut raw = [0u8; 32];
            assert!(hex::decode_to_slice(bad, &mut raw).is_err());
        }
    }

    #[test]
    fn push_moves_the_frontier_as_append_does() {
        let (mut a, mut b) = (Frontier::default(), Frontier::default());
        for i in 0..300u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            a.append(leaf);
            b.push(leaf);
            assert_eq!((a.size, a.root()), (b.size, b.root()));
        }
    }

    /// The tree hash straight from the definition in RFC 6962 §2.1 (not the code above).
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn build(n: u64) -> (Vec<Hash>, HashMap<(u32, u64), Hash>, Frontier) {
        let mut f = Frontier::default();
        let mut nodes = HashMap::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            for made in f.append(*l) {
                nodes.insert((made.level, made.index), made.hash);
            }
        }
        (leaves, nodes, f)
    }

    #[test]
    fn frontier_roots_match_the_definition_and_round_trip() {
        let mut f = Frontier::default();
        let mut leaves = Vec::new();
        assert_eq!(f.root(), mth(&[]));
        for i in 0u64..70 {
            let l = leaf_hash(&i.to_be_bytes());
            leaves.push(l);
            f.append(l);
            assert_eq!(f.root(), mth(&leaves), "size {}", i + 1);
            assert_eq!(Frontier::decode(f.size, &f.encode()), Some(f.clone()));
        }
        assert_eq!(Frontier::decode(3, &[0; 32]), None);
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_roots_come_from_nodes() {
        let (leaves, mut nodes, _) = build(40);
        for n in 1..=40u64 {
            let root = root_at(&mut nodes, n).unwrap();
            assert_eq!(root, mth(&leaves[..n as usize]));
            for m in 0..n {
                let p = inclusion_proof(&mut nodes, m, n).unwrap();
                assert!(verify_inclusion(&leaves[m as usize], m, n, &p, &root));
                assert!(!verify_inclusion(&leaf_hash(b"other"), m, n, &p, &root));
                let old = root_at(&mut nodes, m).unwrap();
                let c = consistency_proof(&mut nodes, m, n).unwrap();
                assert!(verify_consistency(m, n, &old, &root, &c), "{m} {n}");
                if m > 0 {
                    let wrong = leaf_hash(b"other");
                    assert!(!verify_consistency(m, n, &wrong, &root, &c));
                }
            }
        }
    }

    #[test]
    fn out_of_range_and_missing_nodes_are_errors() {
        let (_, mut nodes, _) = build(5);
        assert_eq!(
            inclusion_proof(&mut nodes, 5, 5),
            Err(ProofError::OutOfRange)
        );
        assert_eq!(
            consistency_proof(&mut nodes, 6, 5),
            Err(ProofError::OutOfRange)
        );
        nodes.remove(&(1, 0));
        assert_eq!(
            inclusion_proof(&mut nodes, 3, 5),
            Err(ProofError::MissingNode(1, 0))
        );
    }

    #[test]
    fn the_wanted_nodes_are_logarithmic() {
        let mut w = Wanted::default();
        inclusion_proof(&mut w, 12_345, 1_000_003).unwrap();
        assert!(w.0.len() <= 2 * 20, "{}", w.0.len());
    }
}
