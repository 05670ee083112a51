//! Positions on the Earth and the spherical geometry a trip needs: distance, bearing, and where
//! a point lies against a leg of a route (how far off it, how far along it).
//!
//! The Earth is taken as a sphere of the IUGG mean radius ([`EARTH_RADIUS_M`]). Against the
//! WGS84 ellipsoid that errs by at most about 0.5 % of a distance (the ellipsoid's radii of
//! curvature range from 6 335 km to 6 400 km), far below what a truck's ETA or a 5 km off-route
//! threshold can tell apart, and it keeps every formula short and closed-form.
//!
//! The formulas follow Ed Williams' *Aviation Formulary* (<https://edwilliams.org/avform147.htm>)
//! and Chris Veness' *Calculate distance, bearing and more between Latitude/Longitude points*
//! (<https://www.movable-type.co.uk/scripts/latlong.html>); each function names its section.

use serde::{Deserialize, Serialize};

/// The Earth's mean radius in metres, (2a + b) / 3 of WGS84 (IUGG; Moritz, *Geodetic Reference
/// System 1980*).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position in degrees: latitude within ±90, longitude within ±180, both finite. Its
/// JSON form is `{"lat": f64, "lon": f64}`; reading one checks the ranges, so a `LatLon` is
/// always valid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLatLon")]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

/// A position as read, before its ranges are checked.
#[derive(Deserialize)]
struct RawLatLon {
    lat: f64,
    lon: f64,
}

impl TryFrom<RawLatLon> for LatLon {
    type Error = GeoError;

    fn try_from(raw: RawLatLon) -> Result<Self, GeoError> {
        LatLon::new(raw.lat, raw.lon)
    }
}

/// Why a latitude or longitude was refused; the message names the field.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum GeoError {
    #[error("lat must be a finite number of degrees within ±90, got {0}")]
    Lat(f64),
    #[error("lon must be a finite number of degrees within ±180, got {0}")]
    Lon(f64),
}

impl GeoError {
    /// The field that was wrong: `"lat"` or `"lon"`.
    pub fn field(self) -> &'static str {
        match self {
            GeoError::Lat(_) => "lat",
            GeoError::Lon(_) => "lon",
        }
    }
}

impl LatLon {
    /// A position from degrees; errs naming the first field out of range or not finite.
    pub fn new(lat: f64, lon: f64) -> Result<Self, GeoError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::Lat(lat));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::Lon(lon));
        }
        Ok(LatLon { lat, lon })
    }

    /// Latitude in degrees, north positive.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, east positive.
    pub fn lon(self) -> f64 {
        self.lon
    }

    fn radians(self) -> (f64, f64) {
        (self.lat.to_radians(), self.lon.to_radians())
    }

    fn from_radians(phi: f64, lambda: f64) -> LatLon {
        let lat = phi.to_degrees().clamp(-90.0, 90.0);
        // Normalised into [-180, 180]; rounding can leave a hair outside, hence the clamp.
        let lon = ((lambda.to_degrees() + 540.0).rem_euclid(360.0) - 180.0).clamp(-180.0, 180.0);
        LatLon { lat, lon }
    }
}

/// The central angle between `a` and `b` in radians: [`distance_m`] on the unit sphere.
fn central_angle(a: LatLon, b: LatLon) -> f64 {
    let (phi1, lambda1) = a.radians();
    let (phi2, lambda2) = b.radians();
    let h = ((phi2 - phi1) / 2.0).sin().powi(2)
        + phi1.cos() * phi2.cos() * ((lambda2 - lambda1) / 2.0).sin().powi(2);
    // Rounding can push h a hair past 1 for nearly antipodal points.
    2.0 * h.clamp(0.0, 1.0).sqrt().asin()
}

/// The great-circle distance from `a` to `b` in metres, by the haversine formula (Aviation
/// Formulary, "Distance between points", the form well-conditioned at short distances; Veness,
/// "Distance"): a = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2), d = 2R · asin(√a).
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    central_angle(a, b) * EARTH_RADIUS_M
}

/// The initial bearing in radians from `a` towards `b`, in (-π, π].
fn bearing_rad(a: LatLon, b: LatLon) -> f64 {
    let (phi1, lambda1) = a.radians();
    let (phi2, lambda2) = b.radians();
    let dl = lambda2 - lambda1;
    (dl.sin() * phi2.cos()).atan2(phi1.cos() * phi2.sin() - phi1.sin() * phi2.cos() * dl.cos())
}

/// The initial bearing (forward azimuth) from `a` towards `b` along the great circle, in degrees
/// clockwise from true north, in [0, 360). Veness, "Bearing": θ = atan2(sin Δλ · cos φ2,
/// cos φ1 · sin φ2 − sin φ1 · cos φ2 · cos Δλ). Zero when `a` and `b` coincide.
pub fn initial_bearing_deg(a: LatLon, b: LatLon) -> f64 {
    let deg = bearing_rad(a, b).to_degrees().rem_euclid(360.0);
    // rem_euclid of a tiny negative number rounds to 360.0 itself.
    if deg >= 360.0 {
        0.0
    } else {
        deg
    }
}

/// The point `distance_m` from `a` along the great circle leaving it on `bearing_deg`
/// (Aviation Formulary, "Lat/lon given radial and distance"; Veness, "Destination point").
pub fn destination(a: LatLon, bearing_deg: f64, distance_m: f64) -> LatLon {
    let (phi1, lambda1) = a.radians();
    let theta = bearing_deg.to_radians();
    let delta = distance_m / EARTH_RADIUS_M;
    let sin_phi2 =
        (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * theta.cos()).clamp(-1.0, 1.0);
    let phi2 = sin_phi2.asin();
    let lambda2 = lambda1
        + (theta.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * sin_phi2);
    LatLon::from_radians(phi2, lambda2)
}

/// The point at `fraction` (0 = `a`, 1 = `b`) of the way from `a` to `b` along the great circle
/// (Aviation Formulary, "Intermediate points on a great circle"; Veness, "Intermediate point").
/// `a` itself when the points coincide; undefined for antipodal points (any great circle joins
/// them), where it answers `a`.
pub fn intermediate(a: LatLon, b: LatLon, fraction: f64) -> LatLon {
    let delta = central_angle(a, b);
    let sin_delta = delta.sin();
    if sin_delta.abs() < 1e-15 {
        return a;
    }
    let (phi1, lambda1) = a.radians();
    let (phi2, lambda2) = b.radians();
    let wa = ((1.0 - fraction) * delta).sin() / sin_delta;
    let wb = (fraction * delta).sin() / sin_delta;
    let x = wa * phi1.cos() * lambda1.cos() + wb * phi2.cos() * lambda2.cos();
    let y = wa * phi1.cos() * lambda1.sin() + wb * phi2.cos() * lambda2.sin();
    let z = wa * phi1.sin() + wb * phi2.sin();
    LatLon::from_radians(z.atan2(x.hypot(y)), y.atan2(x))
}

/// The signed cross-track distance in metres from `p` to the great circle through `a` and `b`:
/// negative left of the path from `a` to `b`, positive right. Aviation Formulary, "Cross track
/// error"; Veness, "Cross-track distance": d_xt = asin(sin δ13 · sin(θ13 − θ12)) · R.
pub fn cross_track_m(p: LatLon, a: LatLon, b: LatLon) -> f64 {
    let delta13 = central_angle(a, p);
    let dtheta = bearing_rad(a, p) - bearing_rad(a, b);
    (delta13.sin() * dtheta.sin()).clamp(-1.0, 1.0).asin() * EARTH_RADIUS_M
}

/// The signed along-track distance in metres from `a` to the foot of the perpendicular from
/// `p` onto the great circle through `a` and `b`: negative when the foot lies behind `a`, more
/// than the segment's length when it lies beyond `b`. Veness, "Along-track distance", gives
/// d_at = acos(cos δ13 / cos δxt) · R; this is the same right spherical triangle solved by
/// Napier's rule tan d_at = tan δ13 · cos(θ13 − θ12), written with atan2 so that it keeps its
/// sign and stays well-conditioned near the start (where the acos form loses precision).
pub fn along_track_m(p: LatLon, a: LatLon, b: LatLon) -> f64 {
    let delta13 = central_angle(a, p);
    let dtheta = bearing_rad(a, p) - bearing_rad(a, b);
    (delta13.sin() * dtheta.cos()).atan2(delta13.cos()) * EARTH_RADIUS_M
}

/// Where a point lies against a segment: see [`project_on_segment`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentProjection {
    /// How far along the segment from its start the point's projection lies, in metres,
    /// clamped to `0..=length_m`.
    pub along_m: f64,
    /// The distance from the point to the segment in metres: the cross-track distance where
    /// the projection falls within the segment, the distance to the nearer end where it falls
    /// beyond one.
    pub distance_m: f64,
    /// The segment's length in metres.
    pub length_m: f64,
}

/// Projects `p` onto the great-circle segment from `a` to `b` (shorter than half the Earth's
/// circumference): the along-track position of its projection, clamped to the segment, and its
/// distance to the segment, which beyond either end is the distance to that end (see
/// [`cross_track_m`] and [`along_track_m`]). A segment whose ends coincide is a point.
pub fn project_on_segment(p: LatLon, a: LatLon, b: LatLon) -> SegmentProjection {
    let length_m = distance_m(a, b);
    if length_m == 0.0 {
        return SegmentProjection {
            along_m: 0.0,
            distance_m: distance_m(p, a),
            length_m,
        };
    }
    let along = along_track_m(p, a, b);
    if along <= 0.0 {
        SegmentProjection {
            along_m: 0.0,
            distance_m: distance_m(p, a),
            length_m,
        }
    } else if along >= length_m {
        SegmentProjection {
            along_m: length_m,
            distance_m: distance_m(p, b),
            length_m,
        }
    } else {
        SegmentProjection {
            along_m: along,
            distance_m: cross_track_m(p, a, b).abs(),
            length_m,
        }
    }
}

/// The distance in metres from `p` to the great-circle segment from `a` to `b`, clamped to the
/// segment's ends (see [`project_on_segment`]).
pub fn distance_to_segment_m(p: LatLon, a: LatLon, b: LatLon) -> f64 {
    project_on_segment(p, a, b).distance_m
}
