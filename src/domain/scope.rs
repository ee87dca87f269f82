//! What a supervisor may see (全省统一平台): the provincial body sees everything; a city's or a
//! county's body sees the enterprises under it and under every body below it. An auditor's
//! [`Scope`] is computed once per request and handed to every query an auditor makes.

use std::collections::{BTreeMap, BTreeSet};

/// Longest name of a supervising body, in characters.
pub const MAX_BODY_NAME_CHARS: usize = 100;

/// A GB/T 2260 administrative division code: six digits, the first two a province
/// (11–82), e.g. `330000` 浙江省, `330100` 杭州市, `330106` 西湖区.
pub fn valid_region_code(code: &str) -> bool {
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code[..2].parse::<u8>(), Ok(11..=82))
}

/// One supervising body as the tree needs it: its id and its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub id: i64,
    pub parent_id: Option<i64>,
}

/// The body and every body below it (the body included). Unknown ids give an empty set; a
/// cycle in corrupt data cannot loop forever (each body is visited once).
pub fn subtree(root: i64, tree: &[Node]) -> BTreeSet<i64> {
    let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for n in tree {
        if let Some(p) = n.parent_id {
            children.entry(p).or_default().push(n.id);
        }
    }
    let mut seen = BTreeSet::new();
    if !tree.iter().any(|n| n.id == root) {
        return seen;
    }
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if seen.insert(id) {
            todo.extend(children.get(&id).into_iter().flatten().copied());
        }
    }
    seen
}

/// The direct children of `parent` (or the roots when `None`), in id order.
pub fn children(parent: Option<i64>, tree: &[Node]) -> Vec<i64> {
    let mut ids: Vec<i64> = tree
        .iter()
        .filter(|n| n.parent_id == parent)
        .map(|n| n.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// What one caller may see of the enterprises' business.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Everything: the province's auditors, operators and admins (and everyone for whom
    /// supervision does not apply).
    #[default]
    All,
    /// The enterprises under these bodies only.
    Within {
        /// The auditor's body.
        body: i64,
        /// The auditor's body and every body below it.
        bodies: BTreeSet<i64>,
        /// The organisations attached to one of `bodies`.
        organizations: BTreeSet<i64>,
    },
}

impl Scope {
    /// The body at the top of the scope (`None`: the whole tree).
    pub fn body(&self) -> Option<i64> {
        match self {
            Scope::All => None,
            Scope::Within { body, .. } => Some(*body),
        }
    }

    /// Whether the scope sees everything.
    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }

    /// Whether the organisation's business is in scope.
    pub fn covers_org(&self, organization_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Within { organizations, .. } => organizations.contains(&organization_id),
        }
    }

    /// Whether something attached to `body` (or to no body) is in scope.
    pub fn covers_body(&self, body: Option<i64>) -> bool {
        match self {
            Scope::All => true,
            Scope::Within { bodies, .. } => body.is_some_and(|b| bodies.contains(&b)),
        }
    }

    /// The organisations in scope, for a query filter; `None` means no filter.
    pub fn organization_ids(&self) -> Option<Vec<i64>> {
        match self {
            Scope::All => None,
            Scope::Within { organizations, .. } => Some(organizations.iter().copied().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<Node> {
        let n = |id, parent_id| Node { id, parent_id };
        // 1 province; 2 Hangzhou (4 Xihu, 5 Yuhang); 3 Ningbo (6 Yinzhou)
        vec![
            n(1, None),
            n(2, Some(1)),
            n(3, Some(1)),
            n(4, Some(2)),
            n(5, Some(2)),
            n(6, Some(3)),
        ]
    }

    #[test]
    fn a_city_covers_itself_and_its_counties_only() {
        let s = subtree(2, &tree());
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec![2, 4, 5]);
        assert_eq!(subtree(1, &tree()).len(), 6);
        assert!(subtree(99, &tree()).is_empty());
    }

    #[test]
    fn a_cycle_in_the_data_ends() {
        let t = vec![
            Node {
                id: 1,
                parent_id: Some(2),
            },
            Node {
                id: 2,
                parent_id: Some(1),
            },
        ];
        assert_eq!(subtree(1, &t).len(), 2);
    }

    #[test]
    fn children_are_direct_only() {
        assert_eq!(children(Some(1), &tree()), vec![2, 3]);
        assert_eq!(children(None, &tree()), vec![1]);
    }

    #[test]
    fn region_codes_are_six_digits_of_a_province() {
        assert!(valid_region_code("330000") && valid_region_code("330212"));
        assert!(!valid_region_code("33010") && !valid_region_code("3301OO"));
        assert!(!valid_region_code("990000") && !valid_region_code("３３０１００"));
    }

    #[test]
    fn scope_checks() {
        let s = Scope::Within {
            body: 2,
            bodies: subtree(2, &tree()),
            organizations: [10, 11].into(),
        };
        assert!(s.covers_org(10) && !s.covers_org(12));
        assert!(s.covers_body(Some(4)) && !s.covers_body(Some(6)) && !s.covers_body(None));
        assert!(Scope::All.covers_org(12) && Scope::All.covers_body(None));
        assert_eq!(Scope::All.organization_ids(), None);
    }
}
