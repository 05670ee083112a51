//! A small inline SVG line of recent values (a truck's speed over the last minutes, a reefer's
//! temperature against its band): the shape of the trend at a glance, with the numbers in its
//! accessible name.

use std::rc::Rc;
use yew::prelude::*;

/// The drawing's coordinate box; the SVG scales it to the width it is given.
const WIDTH: f32 = 320.0;
const HEIGHT: f32 = 40.0;
/// Until the history fills the window, the x axis spans the points collected, but at least
/// this much, so a panel opened a second ago shows a short line instead of a dot at the edge,
/// and the line does not stretch and shrink wildly while it starts.
const MIN_SPAN_MS: u64 = 60_000;
/// Room so the line and its end dot are not clipped at the edges.
const PAD: f32 = 3.0;

#[derive(Properties)]
pub struct SparklineProps {
    /// `(time_ms, value)` oldest first.
    pub points: Rc<Vec<(u64, f32)>>,
    /// The longest time span the x axis covers, ending at the last point.
    pub window_ms: u64,
    /// What the line shows, such as "Speed"; the caption adds the span ("last 10 min").
    pub label: AttrValue,
    /// The values' unit, such as "km/h".
    pub unit: AttrValue,
    /// The y axis runs from 0 to at least this, so a truck crawling at 3 km/h does not look
    /// like one racing.
    #[prop_or(1.0)]
    pub min_scale: f32,
    /// The range the values should stay in (`min`, `max`), drawn as a shaded band; the y axis
    /// then spans the band and the values (not from 0), and the summary counts those outside.
    #[prop_or_default]
    pub band: Option<(f32, f32)>,
    /// Decimals shown in the numbers.
    #[prop_or_default]
    pub precision: usize,
    /// What it says without a single point ("waiting for data", "not reported").
    #[prop_or(AttrValue::Static("waiting for data"))]
    pub empty: AttrValue,
}

impl PartialEq for SparklineProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.points, &other.points)
            && self.window_ms == other.window_ms
            && self.label == other.label
            && self.unit == other.unit
            && self.min_scale == other.min_scale
            && self.band == other.band
            && self.precision == other.precision
            && self.empty == other.empty
    }
}

#[function_component(Sparkline)]
pub fn sparkline(props: &SparklineProps) -> Html {
    let SparklineProps {
        points,
        window_ms,
        label,
        unit,
        min_scale,
        band,
        precision,
        empty,
    } = props;
    let p = *precision;
    let start_ms = points
        .last()
        .map_or(0, |(last_ms, _)| last_ms.saturating_sub(*window_ms));
    let shown: Vec<(u64, f32)> = points
        .iter()
        .copied()
        .filter(|(t, v)| *t >= start_ms && v.is_finite())
        .collect();
    let Some(&(last_ms, last_value)) = shown.last() else {
        return html! {
            <p class="sparkline-empty">{ format!("{label}: {empty}") }</p>
        };
    };
    let first_ms = shown.first().map_or(last_ms, |(t, _)| *t);
    let span_ms = last_ms
        .saturating_sub(first_ms)
        .clamp(MIN_SPAN_MS.min(*window_ms).max(1), (*window_ms).max(1));
    let peak = shown
        .iter()
        .map(|(_, v)| *v)
        .fold(*min_scale, f32::max)
        .max(1.0);
    let low = shown.iter().map(|(_, v)| *v).fold(f32::INFINITY, f32::min);
    let high = shown
        .iter()
        .map(|(_, v)| *v)
        .fold(f32::NEG_INFINITY, f32::max);
    // Measured back from the newest point, which always sits at the right edge.
    let x = |t: u64| {
        WIDTH - PAD - (last_ms.saturating_sub(t) as f32 / span_ms as f32) * (WIDTH - 2.0 * PAD)
    };
    // From 0 to the peak; with a band, from just below the lowest of band and values to just
    // above the highest, so a reefer at -18 °C draws as well as one at 4 °C.
    let (floor, ceiling) = match band {
        Some((min, max)) => {
            let (lo, hi) = (low.min(*min), high.max(*max));
            let margin = ((hi - lo) * 0.1).max(0.5);
            (lo - margin, hi + margin)
        }
        None => (0.0, peak),
    };
    let y = |v: f32| {
        PAD + (1.0 - ((v - floor) / (ceiling - floor)).clamp(0.0, 1.0)) * (HEIGHT - 2.0 * PAD)
    };
    let coords: Vec<String> = shown
        .iter()
        .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
        .collect();
    // The caption says how much history there really is, not the window it will grow to.
    let covered_ms = last_ms.saturating_sub(first_ms).min(*window_ms);
    let covered = format_span(covered_ms);
    let collecting = shown.len() < 2 || covered_ms < 1_000;
    let caption = if collecting {
        format!("{label} · collecting…")
    } else {
        format!("{label} · last {covered}")
    };
    let mut summary = if collecting {
        format!("{label}: {last_value:.p$} {unit}, collecting more points")
    } else {
        format!(
            "{label} over the last {covered}: between {low:.p$} and {high:.p$} {unit}, \
             now {last_value:.p$} {unit}"
        )
    };
    let outside = band.map(|(min, max)| shown.iter().filter(|(_, v)| *v < min || *v > max).count());
    if let (Some((min, max)), Some(outside)) = (band, outside) {
        summary.push_str(&format!(
            "; band {min:.p$} to {max:.p$} {unit}, {outside} of {} readings outside it",
            shown.len()
        ));
    }
    let range = if format!("{low:.p$}") == format!("{high:.p$}") {
        format!("{high:.p$} {unit}")
    } else {
        // "-21.0 to -20.8 °C": a dash between negative numbers reads as a minus.
        let to = if low < 0.0 { " to " } else { "–" };
        format!("{low:.p$}{to}{high:.p$} {unit}")
    };
    html! {
        <div class="sparkline-figure">
            <svg class="sparkline" viewBox={format!("0 0 {WIDTH} {HEIGHT}")}
                role="img" aria-label={summary.clone()} data-points={shown.len().to_string()}
                data-outside={outside.map(|n| n.to_string())}>
                <title>{ summary }</title>
                if let Some((min, max)) = band {
                    <rect class="sparkline-band" x="0" width={WIDTH.to_string()}
                        y={format!("{:.1}", y(*max))} height={format!("{:.1}", (y(*min) - y(*max)).max(0.5))} />
                } else {
                    <line class="sparkline-base" x1="0" x2={WIDTH.to_string()}
                        y1={format!("{:.1}", y(0.0))} y2={format!("{:.1}", y(0.0))} />
                }
                if coords.len() >= 2 {
                    <polyline class="sparkline-line" points={coords.join(" ")} />
                }
                <circle class="sparkline-now" cx={format!("{:.1}", x(last_ms))} cy={format!("{:.1}", y(last_value))} r="2.5" />
            </svg>
            <p class="sparkline-caption" aria-hidden="true"><span>{ caption }</span><span>{ range }</span></p>
        </div>
    }
}

/// `45 s`, `3 min`, `10 min`.
fn format_span(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 90 {
        format!("{seconds} s")
    } else {
        format!("{} min", (seconds + 30) / 60)
    }
}
