//! The OsmAnd protocol: positions reported by phones and GPS units (Traccar Client, OsmAnd's
//! online tracking, and the many trackers that speak it), decoded with no IO and no clock.
//!
//! Two forms, read as Traccar's own server reads them:
//! - query or form parameters, GET or POST ([`decode_params`]);
//! - the JSON body of Traccar Client 9 ([`decode_json`]).
//!
//! [`decode`] picks the form from the request's `Content-Type`. [`DeviceMap`] reads the file
//! that says which truck each device reports for.

use convoy_core::wire::{is_valid_truck_id, TruckId};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Knots to km/h: the international nautical mile is 1852 m.
const KPH_PER_KNOT: f64 = 1.852;
/// m/s to km/h.
const KPH_PER_MPS: f64 = 3.6;
/// Numeric timestamps below this are Unix seconds, at or above it Unix milliseconds.
pub const SECONDS_LIMIT: u64 = 1 << 31;
/// The latest time accepted, 9999-12-31T23:59:59.999Z: a larger number is most likely
/// microseconds, and a calendar date has four year digits.
const MAX_MS: u64 = 253_402_300_799_999;
/// The longest device id accepted, in bytes (IMEIs are 15 digits, UUIDs 36 characters).
pub const MAX_DEVICE_ID_BYTES: usize = 128;
/// How much of a bad value an error message repeats.
const SHOWN_CHARS: usize = 64;

/// One report from a device, in Convoy's units.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReport {
    /// The device's own identifier (`id`, `deviceid` or `device_id`), not yet a truck id: look it
    /// up in a [`DeviceMap`].
    pub device_id: String,
    /// When the fix was taken (the device's `timestamp`), or `now_ms` when it sent none.
    pub at_ms: u64,
    /// `(lat, lon)` in WGS84 degrees, within ±90 and ±180; `None` for a report without
    /// coordinates (a heartbeat or battery report), which moves nothing.
    pub position: Option<(f64, f64)>,
    /// Ground speed in km/h, never negative; `None` when unknown.
    pub speed_kph: Option<f64>,
    /// Course over ground in degrees clockwise from north, in `0.0..360.0`; `None` when unknown.
    pub heading_deg: Option<f64>,
    /// Altitude in metres.
    pub altitude_m: Option<f64>,
    /// Horizontal accuracy in metres, never negative.
    pub accuracy_m: Option<f64>,
    /// Horizontal dilution of precision (unitless), never negative.
    pub hdop: Option<f64>,
    /// The device's battery, 0 to 100.
    pub battery_pct: Option<f64>,
    /// The device's odometer in metres, never negative.
    pub odometer_m: Option<f64>,
}

/// Why a report was refused. Each names the parameter (or JSON field) at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OsmAndError {
    #[error("no device id: send `{param}` with the identifier set in the device's tracking app")]
    MissingDeviceId { param: &'static str },
    #[error("`{param}` is {len} bytes long, over the limit of {MAX_DEVICE_ID_BYTES}")]
    DeviceIdTooLong { param: &'static str, len: usize },
    #[error("`{param}` must be a finite number, not {value:?}")]
    BadNumber { param: &'static str, value: String },
    #[error("`{param}` is {value}, outside {range}")]
    OutOfRange {
        param: &'static str,
        value: f64,
        range: &'static str,
    },
    #[error("`{given}` was sent without `{missing}`: send both, or neither for a report that moves nothing")]
    HalfPosition {
        given: &'static str,
        missing: &'static str,
    },
    #[error("`location` must be `LAT,LON` in degrees, not {value:?}")]
    BadLocation { value: String },
    #[error("`{param}` {value:?} is not a time ({reason}): send Unix seconds, Unix milliseconds, ISO 8601 such as 2025-06-15T13:45:12Z, or yyyy-MM-dd HH:mm:ss in UTC")]
    BadTimestamp {
        param: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("the body is not JSON: {0}")]
    BadJson(String),
    #[error("`{field}` is missing")]
    MissingField { field: &'static str },
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// Decodes one OsmAnd request: the JSON form when `content_type` is `application/json` (its
/// parameters, such as `; charset=utf-8`, allowed), otherwise the parameters of `query` and a
/// form `body` (see [`decode_params`]). `query` is the raw query string, with or without `?`.
pub fn decode(
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
    now_ms: u64,
) -> Result<DeviceReport, OsmAndError> {
    if content_type.is_some_and(is_json) {
        decode_json(body, now_ms)
    } else {
        decode_params(query, body, now_ms)
    }
}

/// Whether a `Content-Type` value names JSON.
fn is_json(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// Decodes the parameter form: the pairs of `query` (raw, with or without `?`) then those of
/// `form` (an `application/x-www-form-urlencoded` body, empty for GET); a later value of a
/// parameter replaces an earlier one, and an empty value counts as absent.
///
/// Read: `id` or `deviceid`; `lat` and `lon`, or `location=LAT,LON` (`lat`/`lon` win when both
/// are sent); `timestamp` (see [`parse_timestamp`]; absent means `now_ms`); `speed` in knots;
/// `bearing` or `heading` in degrees; `altitude` and `accuracy` in metres; `hdop`; `batt` in
/// percent. Other parameters (`cell`, `wifi`, `ignition`, ...) are ignored. A negative speed,
/// heading, accuracy, hdop or battery is the device saying it does not know: `None`.
pub fn decode_params(query: &str, form: &[u8], now_ms: u64) -> Result<DeviceReport, OsmAndError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut params = Params::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(form))
    {
        let (slot, param) = match key.as_ref() {
            "id" => (&mut params.id, "id"),
            "deviceid" => (&mut params.id, "deviceid"),
            "lat" => (&mut params.lat, "lat"),
            "lon" => (&mut params.lon, "lon"),
            "location" => (&mut params.location, "location"),
            "timestamp" => (&mut params.timestamp, "timestamp"),
            "speed" => (&mut params.speed, "speed"),
            "bearing" => (&mut params.heading, "bearing"),
            "heading" => (&mut params.heading, "heading"),
            "altitude" => (&mut params.altitude, "altitude"),
            "accuracy" => (&mut params.accuracy, "accuracy"),
            "hdop" => (&mut params.hdop, "hdop"),
            "batt" => (&mut params.batt, "batt"),
            _ => continue,
        };
        if !value.trim().is_empty() {
            *slot = Some(Raw {
                param,
                value: value.into_owned(),
            });
        }
    }

    let device_id = match params.id {
        Some(raw) => checked_device_id(raw.value, raw.param)?,
        None => return Err(OsmAndError::MissingDeviceId { param: "id" }),
    };
    let at_ms = match &params.timestamp {
        Some(raw) => parse_timestamp(&raw.value).map_err(|reason| OsmAndError::BadTimestamp {
            param: raw.param,
            value: shown(&raw.value),
            reason,
        })?,
        None => now_ms,
    };
    let position = match (&params.lat, &params.lon, &params.location) {
        (Some(lat), Some(lon), _) => Some((
            latitude(lat.param, number(lat)?)?,
            longitude(lon.param, number(lon)?)?,
        )),
        (Some(_), None, _) => {
            return Err(OsmAndError::HalfPosition {
                given: "lat",
                missing: "lon",
            })
        }
        (None, Some(_), _) => {
            return Err(OsmAndError::HalfPosition {
                given: "lon",
                missing: "lat",
            })
        }
        (None, None, Some(location)) => Some(location_pair(&location.value)?),
        (None, None, None) => None,
    };
    let optional = |raw: &Option<Raw>| raw.as_ref().map(number).transpose();
    let battery_pct = match optional(&params.batt)? {
        Some(pct) if pct > 100.0 => {
            return Err(OsmAndError::OutOfRange {
                param: "batt",
                value: pct,
                range: "0 to 100 percent",
            })
        }
        pct => pct.filter(|pct| *pct >= 0.0),
    };
    Ok(DeviceReport {
        device_id,
        at_ms,
        position,
        speed_kph: known(optional(&params.speed)?).map(|knots| knots * KPH_PER_KNOT),
        heading_deg: known(optional(&params.heading)?).map(|deg| deg.rem_euclid(360.0)),
        altitude_m: optional(&params.altitude)?,
        accuracy_m: known(optional(&params.accuracy)?),
        hdop: known(optional(&params.hdop)?),
        battery_pct,
        odometer_m: None,
    })
}

/// The last value of each parameter read, with the name it came under.
#[derive(Default)]
struct Params {
    id: Option<Raw>,
    lat: Option<Raw>,
    lon: Option<Raw>,
    location: Option<Raw>,
    timestamp: Option<Raw>,
    speed: Option<Raw>,
    heading: Option<Raw>,
    altitude: Option<Raw>,
    accuracy: Option<Raw>,
    hdop: Option<Raw>,
    batt: Option<Raw>,
}

struct Raw {
    param: &'static str,
    value: String,
}

/// A parameter's value as a finite number (surrounding whitespace allowed).
fn number(raw: &Raw) -> Result<f64, OsmAndError> {
    parse_finite(&raw.value).ok_or_else(|| OsmAndError::BadNumber {
        param: raw.param,
        value: shown(&raw.value),
    })
}

fn parse_finite(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `location=LAT,LON`.
fn location_pair(value: &str) -> Result<(f64, f64), OsmAndError> {
    let bad = || OsmAndError::BadLocation {
        value: shown(value),
    };
    let (lat, lon) = value.split_once(',').ok_or_else(bad)?;
    let lat = parse_finite(lat).ok_or_else(bad)?;
    let lon = parse_finite(lon).ok_or_else(bad)?;
    Ok((latitude("location", lat)?, longitude("location", lon)?))
}

fn latitude(param: &'static str, value: f64) -> Result<f64, OsmAndError> {
    if (-90.0..=90.0).contains(&value) {
        Ok(value)
    } else {
        Err(OsmAndError::OutOfRange {
            param,
            value,
            range: "the latitudes -90 to 90 degrees",
        })
    }
}

fn longitude(param: &'static str, value: f64) -> Result<f64, OsmAndError> {
    if (-180.0..=180.0).contains(&value) {
        Ok(value)
    } else {
        Err(OsmAndError::OutOfRange {
            param,
            value,
            range: "the longitudes -180 to 180 degrees",
        })
    }
}

/// Devices send a negative value (−1 by convention) for a quantity they do not know.
fn known(value: Option<f64>) -> Option<f64> {
    value.filter(|v| *v >= 0.0)
}

fn checked_device_id(id: String, param: &'static str) -> Result<String, OsmAndError> {
    if id.trim().is_empty() {
        Err(OsmAndError::MissingDeviceId { param })
    } else if id.len() > MAX_DEVICE_ID_BYTES {
        Err(OsmAndError::DeviceIdTooLong {
            param,
            len: id.len(),
        })
    } else {
        Ok(id)
    }
}

/// At most [`SHOWN_CHARS`] characters of a bad value, for an error message.
fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

/// Decodes Traccar Client 9's JSON body:
/// `{"location":{"timestamp","coords":{"latitude","longitude","speed","heading","altitude",
/// "accuracy"},"battery":{"level"},"odometer"},"device_id"}` with the field names Traccar's
/// server reads. `speed` is in m/s; a negative speed, heading, accuracy or battery level (−1)
/// means unknown; `battery.level` is a fraction (0.79 is 79 %); `odometer` is in metres.
/// `coords` absent or null gives a report that moves nothing; `timestamp` absent means
/// `now_ms`. Other fields (`extras`, `activity`, `is_moving`, ...) are ignored.
pub fn decode_json(body: &[u8], now_ms: u64) -> Result<DeviceReport, OsmAndError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|error| OsmAndError::BadJson(error.to_string()))?;
    let root = root.as_object().ok_or(OsmAndError::WrongType {
        field: "the body",
        expected: "a JSON object",
    })?;
    let device_id = match field(root, "device_id") {
        None => String::new(),
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) if id.is_u64() => id.to_string(),
        Some(_) => {
            return Err(OsmAndError::WrongType {
                field: "device_id",
                expected: "a string",
            })
        }
    };
    let device_id = checked_device_id(device_id, "device_id")?;
    let location = object(root, "location", "location")?
        .ok_or(OsmAndError::MissingField { field: "location" })?;

    let bad_time = |value: String, reason| OsmAndError::BadTimestamp {
        param: "location.timestamp",
        value,
        reason,
    };
    let at_ms = match field(location, "timestamp") {
        None => now_ms,
        Some(Value::String(text)) => parse_timestamp(text).map_err(|r| bad_time(shown(text), r))?,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) => unix_number(n).map_err(|r| bad_time(n.to_string(), r))?,
            None => return Err(bad_time(n.to_string(), "not a whole number of seconds")),
        },
        Some(_) => {
            return Err(OsmAndError::WrongType {
                field: "location.timestamp",
                expected: "an ISO 8601 string",
            })
        }
    };

    let mut report = DeviceReport {
        device_id,
        at_ms,
        position: None,
        speed_kph: None,
        heading_deg: None,
        altitude_m: None,
        accuracy_m: None,
        hdop: None,
        battery_pct: None,
        odometer_m: known(json_number(location, "odometer", "location.odometer")?),
    };
    if let Some(coords) = object(location, "coords", "location.coords")? {
        let required = |key, path| {
            json_number(coords, key, path)?.ok_or(OsmAndError::MissingField { field: path })
        };
        report.position = Some((
            latitude(
                "location.coords.latitude",
                required("latitude", "location.coords.latitude")?,
            )?,
            longitude(
                "location.coords.longitude",
                required("longitude", "location.coords.longitude")?,
            )?,
        ));
        report.speed_kph = known(json_number(coords, "speed", "location.coords.speed")?)
            .map(|mps| mps * KPH_PER_MPS);
        report.heading_deg = known(json_number(coords, "heading", "location.coords.heading")?)
            .map(|deg| deg.rem_euclid(360.0));
        report.altitude_m = json_number(coords, "altitude", "location.coords.altitude")?;
        report.accuracy_m = known(json_number(coords, "accuracy", "location.coords.accuracy")?);
    }
    if let Some(battery) = object(location, "battery", "location.battery")? {
        report.battery_pct = match json_number(battery, "level", "location.battery.level")? {
            Some(level) if level > 1.0 => {
                return Err(OsmAndError::OutOfRange {
                    param: "location.battery.level",
                    value: level,
                    range: "0 to 1 (a fraction), or -1 for unknown",
                })
            }
            // Rounded to a hundredth of a percent: 0.79 is 79, not 79.00000000000001.
            level => known(level).map(|level| (level * 10_000.0).round() / 100.0),
        };
    }
    Ok(report)
}

/// A field's value, `None` when absent or null.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<&'a Map<String, Value>>, OsmAndError> {
    match field(parent, key) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(OsmAndError::WrongType {
            field: path,
            expected: "an object",
        }),
    }
}

fn json_number(
    object: &Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<f64>, OsmAndError> {
    match field(object, key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().filter(|n| n.is_finite())),
        Some(_) => Err(OsmAndError::WrongType {
            field: path,
            expected: "a number",
        }),
    }
}

/// Parses a device's `timestamp` into Unix milliseconds:
/// - digits only: Unix seconds below [`SECONDS_LIMIT`] (2^31), Unix milliseconds at or above;
/// - ISO 8601 `YYYY-MM-DDTHH:MM:SS`, with optional fractional seconds (`.` or `,`, truncated to
///   milliseconds) and `Z`, `±HH:MM`, `±HHMM` or `±HH`; without a zone it is UTC;
/// - `yyyy-MM-dd HH:mm:ss`, UTC (the same grammar with a space for the `T`).
///
/// Surrounding whitespace is ignored. Times before 1970 or after 9999 are refused. The error
/// says what was wrong, to follow "is not a time".
pub fn parse_timestamp(text: &str) -> Result<u64, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let n = text.parse::<u64>().map_err(|_| "the number is too large")?;
        return unix_number(n);
    }
    parse_date_time(text)
}

/// A numeric timestamp: seconds below 2^31, milliseconds from there.
fn unix_number(n: u64) -> Result<u64, &'static str> {
    let ms = if n < SECONDS_LIMIT { n * 1000 } else { n };
    if ms > MAX_MS {
        return Err("as milliseconds it is past the year 9999: microseconds?");
    }
    Ok(ms)
}

fn parse_date_time(text: &str) -> Result<u64, &'static str> {
    let mut at = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = at.digits(4).ok_or("expected a four-digit year")?;
    at.expect(b'-', "expected `-` after the year")?;
    let month = at.digits(2).ok_or("expected a two-digit month")?;
    at.expect(b'-', "expected `-` after the month")?;
    let day = at.digits(2).ok_or("expected a two-digit day")?;
    match at.next() {
        Some(b'T' | b't' | b' ') => {}
        _ => return Err("expected `T` or a space between the date and the time"),
    }
    let hour = at.digits(2).ok_or("expected a two-digit hour")?;
    at.expect(b':', "expected `:` after the hour")?;
    let minute = at.digits(2).ok_or("expected two-digit minutes")?;
    at.expect(b':', "expected `:` after the minutes")?;
    let second = at.digits(2).ok_or("expected two-digit seconds")?;
    let mut millis = 0;
    if at.eat(b'.') || at.eat(b',') {
        let start = at.pos;
        let mut scale = 100;
        while let Some(digit) = at.digits(1) {
            millis += digit * scale;
            scale /= 10;
        }
        if at.pos == start {
            return Err("expected digits after the decimal point");
        }
    }
    let offset_minutes = match at.next() {
        None | Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = at.digits(2).ok_or("expected a two-digit offset hour")?;
            let colon = at.eat(b':');
            let minutes = match at.digits(2) {
                Some(minutes) => minutes,
                None if colon || !at.done() => return Err("expected two-digit offset minutes"),
                None => 0,
            };
            if hours > 23 || minutes > 59 {
                return Err("the offset is out of range");
            }
            let offset = i64::from(hours * 60 + minutes);
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        Some(_) => return Err("unexpected text after the time"),
    };
    if !at.done() {
        return Err("unexpected text after the time zone");
    }
    if !(1..=12).contains(&month) {
        return Err("the month is out of range");
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err("the day is out of range");
    }
    // 60 is a leap second: it runs into the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("the time of day is out of range");
    }
    let seconds = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_minutes * 60;
    let seconds = u64::try_from(seconds).map_err(|_| "it is before 1970")?;
    let ms = seconds * 1000 + u64::from(millis);
    if ms > MAX_MS {
        return Err("it is past the year 9999");
    }
    Ok(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A read position in an ASCII timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = self.bytes.get(self.pos).copied();
        self.pos += usize::from(byte.is_some());
        byte
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8, error: &'static str) -> Result<(), &'static str> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(error)
        }
    }

    /// Exactly `count` ASCII digits as a number; consumes nothing when they are not there.
    fn digits(&mut self, count: usize) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + count)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += count;
        Some(
            digits
                .iter()
                .fold(0, |n, digit| n * 10 + u32::from(digit - b'0')),
        )
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// Which truck each device reports for, read from the `--devices` file. Several devices may
/// report for one truck (a phone and a tracker); one device reports for one truck.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMap {
    trucks: HashMap<String, TruckId>,
}

/// Why a devices file was refused; each names its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceMapError {
    #[error("line {line}: expected `DEVICE_ID TRUCK_ID`, found {found:?}")]
    Malformed { line: usize, found: String },
    #[error(
        "line {line}: the device id is {len} bytes long, over the limit of {MAX_DEVICE_ID_BYTES}"
    )]
    DeviceIdTooLong { line: usize, len: usize },
    #[error("line {line}: invalid truck id {truck:?}: use 1 to 32 letters, digits and '-'")]
    BadTruckId { line: usize, truck: String },
    #[error("line {line}: device {device:?} is already mapped on line {first}")]
    Duplicate {
        line: usize,
        device: String,
        first: usize,
    },
}

impl DeviceMap {
    /// Parses a devices file: `DEVICE_ID TRUCK_ID` per line, separated by spaces or tabs; a
    /// word starting with `#` starts a comment to the end of the line; blank lines are skipped.
    /// Truck ids must pass [`is_valid_truck_id`]; a device id may appear once.
    pub fn parse(text: &str) -> Result<DeviceMap, DeviceMapError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut trucks = HashMap::new();
        let mut first_line = HashMap::new();
        for (index, content) in text.lines().enumerate() {
            let line = index + 1;
            let words: Vec<&str> = content
                .split_whitespace()
                .take_while(|word| !word.starts_with('#'))
                .collect();
            let (device, truck) = match words[..] {
                [] => continue,
                [device, truck] => (device, truck),
                _ => {
                    return Err(DeviceMapError::Malformed {
                        line,
                        found: shown(content.trim()),
                    })
                }
            };
            if device.len() > MAX_DEVICE_ID_BYTES {
                return Err(DeviceMapError::DeviceIdTooLong {
                    line,
                    len: device.len(),
                });
            }
            if !is_valid_truck_id(truck) {
                return Err(DeviceMapError::BadTruckId {
                    line,
                    truck: shown(truck),
                });
            }
            if let Some(&first) = first_line.get(device) {
                return Err(DeviceMapError::Duplicate {
                    line,
                    device: device.to_owned(),
                    first,
                });
            }
            first_line.insert(device, line);
            trucks.insert(device.to_owned(), truck.to_owned());
        }
        Ok(DeviceMap { trucks })
    }

    /// The truck `device_id` reports for; `None` for a device not in the file.
    pub fn truck(&self, device_id: &str) -> Option<&str> {
        self.trucks.get(device_id).map(String::as_str)
    }

    /// How many devices are mapped.
    pub fn len(&self) -> usize {
        self.trucks.len()
    }

    /// Whether no device is mapped.
    pub fn is_empty(&self) -> bool {
        self.trucks.is_empty()
    }
}

/// The most bytes of an OsmAnd request body read (a report is a few hundred).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `GET|POST /api/osmand` (and `/` on `--osmand-addr`): one report from a device, in either
/// form. A report from a device in `--devices` becomes a `position` fact of its truck, on the
/// same path as ingest; 200 with an empty body, as Traccar's server answers. 400 (JSON error
/// naming the parameter) for a report without a device id, from a device not in the file, or
/// with a malformed value; nothing is appended then. A report without coordinates, or one not
/// newer than the truck's last position (a device resending what was taken already), is
/// answered 200 and moves nothing.
pub async fn report(
    axum::extract::State(app): axum::extract::State<crate::AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    use crate::error::ApiError;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let Some(devices) = app.devices.clone() else {
        return ApiError::not_found(
            "OsmAnd is off: start the server with --devices FILE (DEVICE_ID TRUCK_ID per line)",
        )
        .into_response();
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("an OsmAnd report is at most {MAX_BODY_BYTES} bytes"),
            }
            .into_response()
        }
    };
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let now_ms = app.settings.clock.now_ms();
    let report = match decode(query.as_deref().unwrap_or(""), content_type, &body, now_ms) {
        Ok(report) => report,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let Some(truck) = devices.truck(&report.device_id) else {
        return ApiError::bad_request(format!(
            "unknown device {:?}: add it to the --devices file with the truck it reports for \
             (DEVICE_ID TRUCK_ID)",
            shown(&report.device_id)
        ))
        .into_response();
    };
    let Some((lat, lon)) = report.position else {
        return StatusCode::OK.into_response();
    };
    if report.at_ms > now_ms.saturating_add(crate::ingest::MAX_AHEAD_MS) {
        return ApiError::bad_request(format!(
            "`timestamp` is more than {} s ahead of the server's clock",
            crate::ingest::MAX_AHEAD_MS / 1000
        ))
        .into_response();
    }
    let Ok(position) = convoy_core::geo::LatLon::new(lat, lon) else {
        return ApiError::bad_request("`lat`/`lon` out of range").into_response();
    };
    let fact = convoy_core::derive::Fact::Position(convoy_core::trip::PositionReport {
        at_ms: report.at_ms,
        position,
        speed_kph: report.speed_kph.map(|v| v as f32),
        heading_deg: report.heading_deg.map(|v| v as f32),
        fuel_pct: None,
        reefer_c: None,
        driver_minutes_left: None,
        odometer_km: report.odometer_m.map(|m| m / 1000.0),
    });
    let submission = crate::hub::Submission::fact(truck, fact);
    match app.hub.append_async(vec![submission], now_ms).await {
        Ok(outcomes) => {
            app.metrics
                .appended(crate::metrics::Source::Osmand, outcomes.len());
            StatusCode::OK.into_response()
        }
        // Resent or out of order: taken already, or older than what is; the device may drop it.
        Err(crate::log::LogError::Invalid { .. }) => StatusCode::OK.into_response(),
        Err(crate::log::LogError::Refused(why)) => ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: why,
        }
        .into_response(),
        Err(e) => {
            let mut response = ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("the event log could not take the report: {e}"),
            }
            .into_response();
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            response
        }
    }
}
