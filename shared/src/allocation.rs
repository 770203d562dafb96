//! Who gets newly available units: strictly first in, first out.

/// Splits `waiting` (already in queue order) into those offered a unit and those told it ran out
/// again. `free` is how many units are not yet promised to anyone; each entry wants one unit.
///
/// Architecture Invariant: an entry is never skipped in favour of a later one, and no more units are
/// offered than are free.
pub fn allocate<T: Copy>(waiting: &[T], free: i64) -> (Vec<T>, Vec<T>) {
    let n = usize::try_from(free.max(0)).unwrap_or(usize::MAX).min(waiting.len());
    (waiting[..n].to_vec(), waiting[n..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let q = [1, 2, 3, 4, 5];
        for (free, offered, rest) in [
            (0, vec![], vec![1, 2, 3, 4, 5]),
            (-3, vec![], vec![1, 2, 3, 4, 5]),
            (3, vec![1, 2, 3], vec![4, 5]),
            (5, vec![1, 2, 3, 4, 5], vec![]),
            (50, vec![1, 2, 3, 4, 5], vec![]),
        ] {
            assert_eq!(allocate(&q, free), (offered, rest), "free {free}");
        }
    }

    proptest! {
        #[test]
        fn fifo_and_no_over_allocation(len in 0usize..200, free in -10i64..300) {
            let q: Vec<usize> = (0..len).collect();
            let (offered, rest) = allocate(&q, free);
            prop_assert!(offered.len() as i64 <= free.max(0));
            prop_assert_eq!(offered.len() + rest.len(), len);
            // Offered is a prefix of the queue: nobody later is served before somebody earlier.
            prop_assert!(offered.iter().enumerate().all(|(i, &e)| e == i));
        }
    }
}
