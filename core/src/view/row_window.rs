//! Which rows of a long table are in view, so the table renders those and spacers instead of
//! every row, and re-renders only when that set of rows changes.

use std::ops::Range;

/// Which rows of a long table to render: those in the viewport and `overscan` either side.
/// `offset_px` is how far the viewport's top is below the table body's top (negative when the
/// body starts lower on screen). Rows have a fixed height, so the rest are spacers.
pub fn visible_rows(
    offset_px: f64,
    viewport_px: f64,
    row_height_px: f64,
    total: usize,
    overscan: usize,
) -> Range<usize> {
    if total == 0 || row_height_px <= 0.0 || !offset_px.is_finite() || !viewport_px.is_finite() {
        return 0..total.min(overscan);
    }
    let first_seen = (offset_px.max(0.0) / row_height_px).floor() as usize;
    let seen = (viewport_px.max(0.0) / row_height_px).ceil() as usize + 1;
    let first = first_seen.saturating_sub(overscan).min(total);
    let end = first_seen
        .saturating_add(seen)
        .saturating_add(overscan)
        .min(total);
    first..end.max(first)
}

/// Follows a table through scrolls and resizes and says when the rows to render change.
///
/// Scroll events come many times a row; most leave the rendered rows as they were, and each
/// change of them re-renders the whole table. So the window keeps its rows while they still
/// cover the viewport with `min_overscan` rows to spare either side, and only then moves,
/// to `overscan` rows either side: once every `overscan - min_overscan` rows scrolled, not
/// every row. The caller keeps one `RowWindow` across renders (it is not view state), feeds
/// it every measurement, and re-renders only when [`RowWindow::measure`] or
/// [`RowWindow::set_total`] return true.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWindow {
    row_height_px: f64,
    min_overscan: usize,
    overscan: usize,
    offset_px: f64,
    viewport_px: f64,
    total: usize,
    rows: Range<usize>,
}

impl RowWindow {
    /// Before the first measurement: the body at the viewport's top, the viewport
    /// `viewport_px` tall, no rows. `min_overscan` should be below `overscan`.
    pub fn new(
        row_height_px: f64,
        min_overscan: usize,
        overscan: usize,
        viewport_px: f64,
    ) -> RowWindow {
        RowWindow {
            row_height_px,
            min_overscan,
            overscan,
            offset_px: 0.0,
            viewport_px,
            total: 0,
            rows: 0..0,
        }
    }

    /// Call on every scroll and resize: `offset_px` as in [`visible_rows`] (minus the body's
    /// top in viewport coordinates), `viewport_px` the viewport's height. Returns true when the
    /// rows to render changed.
    pub fn measure(&mut self, offset_px: f64, viewport_px: f64) -> bool {
        self.offset_px = offset_px;
        self.viewport_px = viewport_px;
        self.update()
    }

    /// Call with the number of rows whenever it may have changed (on each render is fine).
    /// Returns true when the rows to render changed.
    pub fn set_total(&mut self, total: usize) -> bool {
        self.total = total;
        self.update()
    }

    /// The rows to render now.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    fn update(&mut self) -> bool {
        let rows_with = |overscan| {
            visible_rows(
                self.offset_px,
                self.viewport_px,
                self.row_height_px,
                self.total,
                overscan,
            )
        };
        let needed = rows_with(self.min_overscan);
        let covered = self.rows.start <= needed.start
            && needed.end <= self.rows.end
            && self.rows.end <= self.total;
        if covered {
            return false;
        }
        let rows = rows_with(self.overscan);
        let changed = rows != self.rows;
        self.rows = rows;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_viewport_and_its_margins() {
        // 800 px of 36 px rows, the body's top 100 px below the viewport's.
        assert_eq!(visible_rows(-100.0, 800.0, 36.0, 500, 10), 0..34);
        // Scrolled 3 600 px into the body: row 100 at the top.
        assert_eq!(visible_rows(3_600.0, 800.0, 36.0, 500, 10), 90..134);
        // Near the end, clamped.
        assert_eq!(visible_rows(17_900.0, 800.0, 36.0, 500, 10), 487..500);
        // Scrolled past the table.
        assert_eq!(visible_rows(90_000.0, 800.0, 36.0, 500, 10), 500..500);
        assert_eq!(visible_rows(0.0, 800.0, 36.0, 0, 10), 0..0);
        assert_eq!(visible_rows(f64::NAN, 800.0, 36.0, 50, 10), 0..10);
    }

    /// 800 px of 36 px rows, 5 to 10 rows spare either side, scrolled to row 100.
    fn table() -> RowWindow {
        let mut window = RowWindow::new(36.0, 5, 10, 800.0);
        assert!(window.set_total(500), "the first rows appear");
        assert_eq!(window.rows(), 0..34);
        assert!(window.measure(3_600.0, 800.0));
        assert_eq!(window.rows(), 90..134);
        window
    }

    #[test]
    fn scrolling_within_a_row_changes_nothing() {
        let mut window = table();
        // 1 to 30 px steps up and down, all inside row 100 (3 600..3 636 px).
        for offset in [3_601.0, 3_631.0, 3_620.0, 3_635.9, 3_600.5, 3_630.0] {
            assert!(!window.measure(offset, 800.0), "{offset}");
        }
        assert_eq!(window.rows(), 90..134);
        // Nor does a render that brings no new rows.
        assert!(!window.set_total(500));
    }

    #[test]
    fn the_window_moves_only_when_fewer_rows_than_the_minimum_are_left_spare() {
        let mut window = table();
        // Rows 101 to 105 at the top: 5 or more rows still spare below the viewport.
        for row in 101..=105 {
            assert!(!window.measure(row as f64 * 36.0, 800.0), "row {row}");
        }
        assert_eq!(window.rows(), 90..134);
        // Row 106: 4 spare; the window moves to 10 either side.
        assert!(window.measure(106.0 * 36.0, 800.0));
        assert_eq!(window.rows(), 96..140);
        // Back up to row 100: 4 spare above.
        assert!(!window.measure(101.0 * 36.0, 800.0));
        assert!(window.measure(100.0 * 36.0, 800.0));
        assert_eq!(window.rows(), 90..134);
    }

    #[test]
    fn scrolling_beyond_either_end_changes_nothing_once_clamped() {
        let mut window = table();
        // Below the table, its last rows out of even the overscan.
        assert!(window.measure(90_000.0, 800.0));
        assert_eq!(window.rows(), 500..500);
        assert!(!window.measure(90_020.0, 800.0));
        // Above the table, with the body lower on screen each time: row 0 on top throughout.
        assert!(window.measure(-100.0, 800.0));
        assert_eq!(window.rows(), 0..34);
        assert!(!window.measure(-50.0, 800.0));
        assert!(!window.measure(-400.0, 800.0));
    }

    #[test]
    fn a_resize_or_another_row_count_moves_the_window_only_when_it_must() {
        let mut window = table();
        // Taller, but the spare rows still cover it.
        assert!(!window.measure(3_600.0, 810.0));
        assert!(!window.measure(3_600.0, 1_000.0));
        assert!(window.measure(3_600.0, 1_200.0));
        assert_eq!(window.rows(), 90..145);
        let mut short = RowWindow::new(36.0, 5, 10, 800.0);
        assert!(short.set_total(3));
        assert_eq!(short.rows(), 0..3);
        assert!(short.set_total(40));
        assert_eq!(short.rows(), 0..34);
        assert!(!short.set_total(40));
        // Fewer rows than rendered: the window shrinks with them.
        assert!(short.set_total(20));
        assert_eq!(short.rows(), 0..20);
    }
}
