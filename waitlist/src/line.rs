//! The line's order statistics, kept with each write so that no shopper request reads the queue:
//! a Fenwick tree (binary indexed tree) over signup order counts the notify-me and pre-order
//! entries in line, so a place in line is a prefix sum of O(log N) stored nodes; counters keep the
//! rest (in line, backorders in line, units held, backorder units).
//!
//! The tree grows by doubling: node `i` covers the signup orders `(i - lowbit(i), i]`, so when the
//! capacity doubles from `c` to `2c` every new node but `2c` covers only empty orders, and node `2c`
//! is the total so far.

use crate::store::{Settings, Store, StoreResult};
use shared::queue::Entry;
use shared::wire::{EntryKind, EntryStatus};

/// The counters' keys in the SKU's settings.
const IN_LINE: &str = "line:in_line";
const BACKORDERS: &str = "line:backorders";
const OFFERED_UNITS: &str = "line:offered_units";
const BACKORDER_UNITS: &str = "line:backorder_units";

/// The tree's first capacity (signup orders 1..=1024).
const FIRST_CAPACITY: u32 = 1024;

fn lowbit(i: u32) -> u32 {
    i & i.wrapping_neg()
}

/// The nodes a prefix sum over `1..=i` reads.
pub fn prefix_nodes(mut i: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while i > 0 {
        out.push(i);
        i -= lowbit(i);
    }
    out
}

/// The nodes an update at `i` writes, up to `capacity`.
pub fn update_nodes(mut i: u32, capacity: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while i > 0 && i <= capacity {
        out.push(i);
        i = match i.checked_add(lowbit(i)) {
            Some(n) => n,
            None => break,
        };
    }
    out
}

/// Counters of the line, as stored in the SKU's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCounts {
    /// Entries in line (waiting, holding an offer, or told), every kind.
    pub in_line: i64,
    /// Backorders in line (they come first).
    pub backorders_in_line: i64,
    /// Units of entries holding an offer (running or lapsed and not yet ended by the alarm).
    pub offered_units: i64,
    /// Units set aside for live backorders (whole or partial).
    pub backorder_units: i64,
}

/// Whether an entry counts in the tree: a notify-me or pre-order entry in line.
fn in_tree(e: &Entry) -> bool {
    e.kind != EntryKind::Backorder && e.in_line()
}

fn counts_of(e: &Entry) -> LineCounts {
    let backorder = e.kind == EntryKind::Backorder;
    LineCounts {
        in_line: i64::from(e.in_line()),
        backorders_in_line: i64::from(backorder && e.in_line()),
        offered_units: if e.status == EntryStatus::Offered { i64::from(e.units) } else { 0 },
        backorder_units: if backorder && e.is_live() { i64::from(e.units) } else { 0 },
    }
}

pub(crate) fn counts<S: Store + ?Sized>(store: &S) -> StoreResult<LineCounts> {
    Ok(LineCounts {
        in_line: store.int(IN_LINE)?,
        backorders_in_line: store.int(BACKORDERS)?,
        offered_units: store.int(OFFERED_UNITS)?,
        backorder_units: store.int(BACKORDER_UNITS)?,
    })
}

fn set_counts<S: Store + ?Sized>(store: &S, c: &LineCounts) -> StoreResult<()> {
    store.set_meta(IN_LINE, &c.in_line.to_string())?;
    store.set_meta(BACKORDERS, &c.backorders_in_line.to_string())?;
    store.set_meta(OFFERED_UNITS, &c.offered_units.to_string())?;
    store.set_meta(BACKORDER_UNITS, &c.backorder_units.to_string())
}

/// What the counters gain when an entry goes from `before` to `after`.
pub(crate) fn delta(before: Option<&Entry>, after: &Entry) -> LineCounts {
    let (b, a) = (before.map(counts_of).unwrap_or_default(), counts_of(after));
    LineCounts {
        in_line: a.in_line - b.in_line,
        backorders_in_line: a.backorders_in_line - b.backorders_in_line,
        offered_units: a.offered_units - b.offered_units,
        backorder_units: a.backorder_units - b.backorder_units,
    }
}

/// Adds the changes of one step to the stored counters (one write each, however many entries).
pub(crate) fn apply<S: Store + ?Sized>(store: &S, d: &LineCounts) -> StoreResult<()> {
    if *d == LineCounts::default() {
        return Ok(());
    }
    let mut c = counts(store)?;
    c += *d;
    set_counts(store, &c)
}

impl std::ops::AddAssign for LineCounts {
    fn add_assign(&mut self, o: LineCounts) {
        self.in_line += o.in_line;
        self.backorders_in_line += o.backorders_in_line;
        self.offered_units += o.offered_units;
        self.backorder_units += o.backorder_units;
    }
}

/// Keeps the tree right as an entry goes from `before` to `after` (the counters: [`delta`]).
pub(crate) fn place<S: Store + ?Sized>(store: &S, before: Option<&Entry>, after: &Entry) -> StoreResult<()> {
    // A shopper who signs up again after their entry ended rejoins at the back (a new seq).
    match (before.filter(|e| in_tree(e)), in_tree(after)) {
        (Some(b), true) if b.seq == after.seq => {}
        (Some(b), now_in) => {
            add(store, b.seq, -1)?;
            if now_in {
                add(store, after.seq, 1)?;
            }
        }
        (None, true) => add(store, after.seq, 1)?,
        (None, false) => {}
    }
    Ok(())
}

fn add<S: Store + ?Sized>(store: &S, seq: u32, delta: i64) -> StoreResult<()> {
    let capacity = grow(store, seq)?;
    store.tree_add(&update_nodes(seq, capacity), delta)
}

/// The signup orders the tree covers now.
fn capacity<S: Store + ?Sized>(store: &S) -> StoreResult<u32> {
    Ok((store.int("line:capacity")? as u32).max(FIRST_CAPACITY))
}

/// Doubles the tree until it covers `seq`; answers the capacity.
fn grow<S: Store + ?Sized>(store: &S, seq: u32) -> StoreResult<u32> {
    let mut capacity = capacity(store)?;
    while seq > capacity {
        // Node 2c covers (0, 2c]: today's total; the nodes between cover only empty orders.
        let total = store.tree_sum(&prefix_nodes(capacity))?;
        capacity *= 2;
        if total != 0 {
            store.tree_add(&[capacity], total)?;
        }
        store.set_meta("line:capacity", &capacity.to_string())?;
    }
    Ok(capacity)
}

/// The entries with signup orders `first..=last` all joined the line at once (seeding a
/// benchmark): each node is written once, `O(count + log N)` writes, not `O(count · log N)`.
pub(crate) fn add_range<S: Store + ?Sized>(store: &S, first: u32, last: u32) -> StoreResult<()> {
    if first > last {
        return Ok(());
    }
    let capacity = grow(store, last)?;
    // Nodes first..=last cover (i - lowbit(i), i]; `tree_fill` adds their overlap with the range.
    store.tree_fill(first, last)?;
    // Nodes above `last` that cover part of the range are exactly those on last's update path.
    for j in update_nodes(last, capacity).into_iter().skip(1) {
        let low = (j - lowbit(j) + 1).max(first);
        store.tree_add(&[j], i64::from(last - low + 1))?;
    }
    apply(store, &LineCounts { in_line: i64::from(last - first + 1), ..LineCounts::default() })
}

/// What [`Store::tree_fill`] adds to node `i` for the range `first..=last` (`i` in the range).
pub fn fill_amount(i: u32, first: u32) -> i64 {
    i64::from(i - (i - lowbit(i) + 1).max(first) + 1)
}

/// 1-based place in line of an entry, `None` when it is not in line: backorders first by order
/// time, then notify-me and pre-order entries by signup order.
pub(crate) fn position<S: Store + ?Sized>(store: &S, e: &Entry) -> StoreResult<Option<u32>> {
    if !e.in_line() {
        return Ok(None);
    }
    if e.kind == EntryKind::Backorder {
        return Ok(Some(store.backorders_ahead(e.created_at, e.seq)? + 1));
    }
    let ahead_and_self = store.tree_sum(&prefix_nodes(e.seq.min(capacity(store)?)))?;
    Ok(Some((store.int(BACKORDERS)? + ahead_and_self) as u32))
}

/// [`position`] of each entry, the tree's nodes of all of them read at once.
pub(crate) fn positions<S: Store + ?Sized>(store: &S, entries: &[&Entry]) -> StoreResult<Vec<Option<u32>>> {
    let in_tree: Vec<&Entry> =
        entries.iter().copied().filter(|e| e.in_line() && e.kind != EntryKind::Backorder).collect();
    let mut sums = Vec::new();
    let mut backorders = 0;
    if !in_tree.is_empty() {
        let capacity = capacity(store)?;
        let sets: Vec<Vec<u32>> = in_tree.iter().map(|e| prefix_nodes(e.seq.min(capacity))).collect();
        sums = store.tree_sums(&sets)?;
        backorders = store.int(BACKORDERS)?;
    }
    let mut sums = sums.into_iter();
    entries
        .iter()
        .map(|e| match (e.in_line(), e.kind) {
            (false, _) => Ok(None),
            (true, EntryKind::Backorder) => Ok(Some(store.backorders_ahead(e.created_at, e.seq)? + 1)),
            (true, _) => Ok(Some((backorders + sums.next().unwrap_or(0)) as u32)),
        })
        .collect()
}

/// Notify-me and pre-order entries in line with signup order in `(after, through]`: two prefix
/// sums.
pub(crate) fn between<S: Store + ?Sized>(store: &S, after: u32, through: u32) -> StoreResult<i64> {
    if through <= after {
        return Ok(0);
    }
    let capacity = capacity(store)?;
    let upto = |i: u32| store.tree_sum(&prefix_nodes(i.min(capacity)));
    Ok(upto(through)? - upto(after)?)
}

/// Rebuilds the tree and counters from every entry (a schema upgrade, or a repair).
pub(crate) fn rebuild<S: Store + ?Sized>(store: &S, entries: &[Entry]) -> StoreResult<()> {
    store.tree_clear()?;
    set_counts(store, &LineCounts::default())?;
    store.set_meta("line:capacity", &FIRST_CAPACITY.to_string())?;
    let mut total = LineCounts::default();
    for e in entries {
        total += delta(None, e);
        place(store, None, e)?;
    }
    apply(store, &total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_update_nodes_cover_each_order_once() {
        // For every i ≤ j ≤ 64: j's prefix sum reads exactly one node that an update at i writes.
        for i in 1..=64u32 {
            let writes = update_nodes(i, 64);
            for j in 1..=64u32 {
                let shared = prefix_nodes(j).iter().filter(|n| writes.contains(n)).count();
                assert_eq!(shared, usize::from(i <= j), "update {i}, prefix {j}");
            }
        }
        assert_eq!(prefix_nodes(1_000_000).len(), 1_000_000u32.count_ones() as usize);
        assert!(update_nodes(1, 1 << 20).len() <= 21);
    }
}
