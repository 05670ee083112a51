//! One sort for every list the views order.

use std::cmp::Ordering;

/// Sorts `items` by `compare`, stably: the order `sort_by` gives. Each `sort_by` on a type (and
/// closure) of its own is kilobytes of the app's wasm; this sorts positions through a `&dyn Fn`,
/// so the fleet table, the alert feed and the map share one sort.
pub fn sort_stably<T>(items: &mut Vec<T>, compare: impl Fn(&T, &T) -> Ordering) {
    let order = sorted_positions(items.len(), &|a, b| compare(&items[a], &items[b]));
    let mut taken: Vec<Option<T>> = items.drain(..).map(Some).collect();
    // Each position comes once, so every `take` finds its item.
    items.extend(order.into_iter().filter_map(|i| taken[i].take()));
}

fn sorted_positions(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..len).collect();
    positions.sort_by(|&a, &b| compare(a, b));
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_sort_by_does_ties_included() {
        let mut seed = 0x9e37_79b9u32;
        for len in [0, 1, 2, 3, 7, 20, 21, 64, 300] {
            let items: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 5, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|a| a.0);
            let mut sorted = items.clone();
            sort_stably(&mut sorted, |a, b| a.0.cmp(&b.0));
            assert_eq!(sorted, expected, "{len} items");
        }
        let mut words = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        sort_stably(&mut words, |a, b| b.cmp(a));
        assert_eq!(words, ["c", "b", "a"]);
    }
}
