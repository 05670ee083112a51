//! How numbers read to an operator: clock times, delays (and when one counts as late) and ages.

/// `14:05` in UTC (the simulator's clock), from Unix ms.
pub fn format_clock(unix_ms: u64) -> String {
    let minutes = unix_ms / 60_000;
    format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
}

/// `+12 min`, `-3 min` or `on time` (within a minute).
pub fn format_delay(delay_s: i64) -> String {
    let minutes = delay_s / 60;
    match minutes {
        0 => "on time".to_owned(),
        m if m > 0 => format!("+{m} min"),
        m => format!("{m} min"),
    }
}

/// How a reading the truck has not sent, or an insight not derived yet, reads.
pub const NOT_REPORTED: &str = "not reported";

/// `format(value)`, or [`NOT_REPORTED`] for `None`.
pub fn reported<T>(value: Option<T>, format: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| NOT_REPORTED.to_owned(), format)
}

/// A truck more than this late is shown as late (highlighted).
pub const LATE_AFTER_S: i64 = 600;

/// Whether a delay (seconds behind plan, as `TruckState::delay_s`) is shown as late: more
/// than ten minutes, not ten minutes exactly.
pub fn is_late(delay_s: i64) -> bool {
    delay_s > LATE_AFTER_S
}

/// `4 s ago`, `3 min ago`, `5 h ago`, `340 days ago`: the unit an operator would say, so an
/// age never reads as hundreds of thousands of minutes.
pub fn format_age(age_ms: u64) -> String {
    let seconds = age_ms / 1000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match () {
        _ if seconds < 90 => format!("{seconds} s ago"),
        _ if minutes < 90 => format!("{minutes} min ago"),
        _ if hours < 48 => format!("{hours} h ago"),
        _ => format!("{days} days ago"),
    }
}

/// `7 h 05 min`.
pub fn format_duration_minutes(minutes: u32) -> String {
    format!("{} h {:02} min", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_an_operator_speaks() {
        assert_eq!(format_clock(13 * 3_600_000 + 5 * 60_000 + 59_000), "13:05");
        assert_eq!(format_delay(59), "on time");
        assert_eq!(format_delay(725), "+12 min");
        assert_eq!(format_delay(-180), "-3 min");
        assert_eq!(reported(Some(725), format_delay), "+12 min");
        assert_eq!(reported(None::<u64>, format_clock), "not reported");
        assert_eq!(format_age(4_200), "4 s ago");
        assert_eq!(format_age(200_000), "3 min ago");
        assert_eq!(format_age(89 * 60_000), "89 min ago");
        assert_eq!(format_age(5 * 3_600_000 + 59 * 60_000), "5 h ago");
        assert_eq!(format_age(47 * 3_600_000), "47 h ago");
        assert_eq!(format_age(490_442 * 60_000), "340 days ago");
        assert_eq!(format_duration_minutes(425), "7 h 05 min");
    }

    #[test]
    fn late_means_more_than_ten_minutes_behind() {
        assert!(!is_late(600));
        assert!(is_late(601));
        assert!(!is_late(0));
        assert!(!is_late(-3_600));
    }
}
