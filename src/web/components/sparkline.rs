//! A small inline SVG line of recent values (a truck's speed over the last minutes): the shape
//! of the trend at a glance, with the numbers in its accessible name.

use std::rc::Rc;
use yew::prelude::*;

/// The drawing's coordinate box; the SVG stretches it to the width it is given.
const WIDTH: f32 = 240.0;
const HEIGHT: f32 = 40.0;
/// Room so the line and its end dot are not clipped at the edges.
const PAD: f32 = 3.0;

#[derive(Properties)]
pub struct SparklineProps {
    /// `(time_ms, value)` oldest first.
    pub points: Rc<Vec<(u64, f32)>>,
    /// The time span the x axis covers, ending at the last point.
    pub window_ms: u64,
    /// What the line shows, read first by screen readers: "Speed over the last 10 minutes".
    pub label: AttrValue,
    /// The values' unit, such as "km/h".
    pub unit: AttrValue,
    /// The y axis runs from 0 to at least this, so a truck crawling at 3 km/h does not look
    /// like one racing.
    #[prop_or(1.0)]
    pub min_scale: f32,
}

impl PartialEq for SparklineProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.points, &other.points)
            && self.window_ms == other.window_ms
            && self.label == other.label
            && self.unit == other.unit
            && self.min_scale == other.min_scale
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
    } = props;
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
            <p class="sparkline-empty">{ format!("{label}: waiting for data") }</p>
        };
    };
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
    let span = (*window_ms).max(1) as f32;
    let x = |t: u64| PAD + (t.saturating_sub(start_ms) as f32 / span) * (WIDTH - 2.0 * PAD);
    let y = |v: f32| PAD + (1.0 - (v / peak).clamp(0.0, 1.0)) * (HEIGHT - 2.0 * PAD);
    let coords: Vec<String> = shown
        .iter()
        .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
        .collect();
    let summary = if shown.len() < 2 {
        format!("{label}: {last_value:.0} {unit}, collecting more points")
    } else {
        format!("{label}: between {low:.0} and {high:.0} {unit}, now {last_value:.0} {unit}")
    };
    html! {
        <svg class="sparkline" viewBox={format!("0 0 {WIDTH} {HEIGHT}")}
            role="img" aria-label={summary.clone()} data-points={shown.len().to_string()}>
            <title>{ summary }</title>
            <line class="sparkline-base" x1="0" x2={WIDTH.to_string()}
                y1={format!("{:.1}", y(0.0))} y2={format!("{:.1}", y(0.0))} />
            if coords.len() >= 2 {
                <polyline class="sparkline-line" points={coords.join(" ")} />
            }
            <circle class="sparkline-now" cx={format!("{:.1}", x(last_ms))} cy={format!("{:.1}", y(last_value))} r="2.5" />
        </svg>
    }
}
