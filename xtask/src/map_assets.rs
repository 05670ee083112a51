//! The map's files, installed once into `.tools/map`, which trunk copies into the build as
//! `map/`: Leaflet's script and stylesheet, and the offline basemap as GeoJSON that Leaflet
//! draws directly (`countries.json`: Natural Earth's 1:110m countries as polygons;
//! `states.json`: the US Census states' borders as lines). The TopoJSON from npm is decoded here,
//! at set-up, so the app needs no TopoJSON decoder and nothing is converted at build or run time.

use crate::tools::{say, status};
use serde_json::{json, Value};
use std::path::Path;

/// Where npm puts the packages.
const NPM_PREFIX: &str = ".tools/map-npm";
/// What trunk copies into the build (index.html's `copy-dir`).
const OUT: &str = ".tools/map";
/// Written last: the packages and the conversion this directory was made from.
const STAMP: &str = "VERSIONS";
/// Bump when the conversion's output changes, so an older `.tools/map` is rebuilt.
const CONVERSION: &str = "geojson-1";

/// Installs and converts the map's files unless `.tools/map` already holds these versions.
pub fn ensure(packages: &[&str]) -> Result<(), String> {
    let stamp = format!("{} {CONVERSION}\n", packages.join(" "));
    let out = Path::new(OUT);
    if std::fs::read_to_string(out.join(STAMP)).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    say(&format!("installing {} from npm", packages.join(", ")));
    std::fs::create_dir_all(NPM_PREFIX).map_err(|e| e.to_string())?;
    let mut args = vec!["install", "--no-audit", "--no-fund", "--prefix", NPM_PREFIX];
    args.extend_from_slice(packages);
    status("npm", &args)?;
    let modules = Path::new(NPM_PREFIX).join("node_modules");
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    for file in ["leaflet.js", "leaflet.css"] {
        let from = modules.join("leaflet/dist").join(file);
        std::fs::copy(&from, out.join(file))
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    }
    let world = read_json(&modules.join("world-atlas/countries-110m.json"))?;
    let countries = polygons(&world, "countries", 2)?;
    write_json(&out.join("countries.json"), &countries)?;
    let us = read_json(&modules.join("us-atlas/states-10m.json"))?;
    let states = mesh(&us, "states", 2)?;
    write_json(&out.join("states.json"), &states)?;
    std::fs::write(out.join(STAMP), stamp).map_err(|e| e.to_string())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    std::fs::write(path, value.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A topology's arcs as absolute `[lon, lat]` points, rounded to `decimals`, with points that
/// round onto the previous one dropped (a quantized, delta-encoded arc when the topology has a
/// `transform`, per the TopoJSON specification §2.1.3).
fn arcs(topology: &Value, decimals: i32) -> Result<Vec<Vec<[f64; 2]>>, String> {
    let (scale, translate) = match topology.get("transform") {
        Some(t) => (pair(&t["scale"])?, pair(&t["translate"])?),
        None => ([1.0, 1.0], [0.0, 0.0]),
    };
    let delta = topology.get("transform").is_some();
    let unit = 10f64.powi(decimals);
    let round = |v: f64| (v * unit).round() / unit;
    let raw = topology["arcs"]
        .as_array()
        .ok_or("the topology has no arcs")?;
    raw.iter()
        .map(|arc| {
            let (mut x, mut y) = (0.0, 0.0);
            let mut points: Vec<[f64; 2]> = Vec::new();
            let positions = arc.as_array().ok_or("an arc is not an array")?;
            for (i, position) in positions.iter().enumerate() {
                let [px, py] = pair(position)?;
                if delta {
                    (x, y) = (x + px, y + py);
                } else {
                    (x, y) = (px, py);
                }
                let point = [
                    round(x * scale[0] + translate[0]),
                    round(y * scale[1] + translate[1]),
                ];
                // Keep both ends, so that arcs still join into rings.
                if points.last() != Some(&point) || i + 1 == positions.len() {
                    points.push(point);
                }
            }
            Ok(points)
        })
        .collect()
}

fn pair(value: &Value) -> Result<[f64; 2], String> {
    match value.as_array().map(Vec::as_slice) {
        Some([a, b, ..]) => Ok([
            a.as_f64().ok_or("not a number")?,
            b.as_f64().ok_or("not a number")?,
        ]),
        _ => Err(format!("{value} is not a position")),
    }
}

/// Arc index `i` of a ring: `~i` (negative) is arc `i` reversed.
fn arc_at(arcs: &[Vec<[f64; 2]>], index: &Value) -> Result<Vec<[f64; 2]>, String> {
    let i = index.as_i64().ok_or("an arc index is not an integer")?;
    let (at, reversed) = if i < 0 {
        ((!i) as usize, true)
    } else {
        (i as usize, false)
    };
    let mut points = arcs.get(at).ok_or("an arc index is out of range")?.clone();
    if reversed {
        points.reverse();
    }
    Ok(points)
}

fn ring(arcs: &[Vec<[f64; 2]>], indexes: &Value) -> Result<Vec<[f64; 2]>, String> {
    let mut points: Vec<[f64; 2]> = Vec::new();
    for index in indexes.as_array().ok_or("a ring is not an array")? {
        let arc = arc_at(arcs, index)?;
        // Each arc starts where the previous one ended.
        let skip = usize::from(!points.is_empty());
        points.extend(arc.into_iter().skip(skip));
    }
    Ok(points)
}

fn rings(arcs: &[Vec<[f64; 2]>], polygon: &Value) -> Result<Vec<Vec<[f64; 2]>>, String> {
    polygon
        .as_array()
        .ok_or("a polygon is not an array")?
        .iter()
        .map(|r| ring(arcs, r))
        .collect()
}

/// The object's polygons as a GeoJSON FeatureCollection, each feature with its `name`.
fn polygons(topology: &Value, object: &str, decimals: i32) -> Result<Value, String> {
    let arcs = arcs(topology, decimals)?;
    let geometries = topology["objects"][object]["geometries"]
        .as_array()
        .ok_or_else(|| format!("the topology has no {object} object"))?;
    let mut features = Vec::new();
    for geometry in geometries {
        let coordinates = match geometry["type"].as_str() {
            Some("Polygon") => json!(rings(&arcs, &geometry["arcs"])?),
            Some("MultiPolygon") => json!(geometry["arcs"]
                .as_array()
                .ok_or("a multipolygon is not an array")?
                .iter()
                .map(|p| rings(&arcs, p))
                .collect::<Result<Vec<_>, _>>()?),
            _ => continue,
        };
        features.push(json!({
            "type": "Feature",
            "properties": { "name": geometry["properties"]["name"] },
            "geometry": { "type": geometry["type"], "coordinates": coordinates },
        }));
    }
    Ok(json!({ "type": "FeatureCollection", "features": features }))
}

/// Every arc of the object's geometries once, as one MultiLineString feature: its borders.
fn mesh(topology: &Value, object: &str, decimals: i32) -> Result<Value, String> {
    let arcs = arcs(topology, decimals)?;
    let geometries = topology["objects"][object]["geometries"]
        .as_array()
        .ok_or_else(|| format!("the topology has no {object} object"))?;
    let mut used = vec![false; arcs.len()];
    let mut mark = |index: &Value| {
        if let Some(i) = index.as_i64() {
            let at = if i < 0 { (!i) as usize } else { i as usize };
            if let Some(u) = used.get_mut(at) {
                *u = true;
            }
        }
    };
    for geometry in geometries {
        // Polygon: [[i…]…]; MultiPolygon: [[[i…]…]…]. Walk any depth down to the indexes.
        let mut stack = vec![&geometry["arcs"]];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items),
                index => mark(index),
            }
        }
    }
    let lines: Vec<&Vec<[f64; 2]>> = arcs
        .iter()
        .zip(&used)
        .filter(|(arc, used)| **used && arc.len() >= 2)
        .map(|(arc, _)| arc)
        .collect();
    Ok(json!({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {},
            "geometry": { "type": "MultiLineString", "coordinates": lines },
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TopoJSON specification's example shape: a quantized topology, one arc reversed.
    #[test]
    fn decodes_quantized_arcs_and_reversed_indexes() {
        let topology = json!({
            "type": "Topology",
            "transform": { "scale": [1.0, 1.0], "translate": [10.0, 20.0] },
            "objects": { "shapes": { "type": "GeometryCollection", "geometries": [
                { "type": "Polygon", "arcs": [[0, -2]], "properties": { "name": "A" } }
            ] } },
            "arcs": [[[0, 0], [1, 0], [0, 1]], [[0, 0], [0, 1], [1, 0]]]
        });
        let out = polygons(&topology, "shapes", 2).unwrap();
        let ring = &out["features"][0]["geometry"]["coordinates"][0];
        assert_eq!(
            ring,
            &json!([
                [10.0, 20.0],
                [11.0, 20.0],
                [11.0, 21.0],
                [10.0, 21.0],
                [10.0, 20.0]
            ])
        );
        assert_eq!(out["features"][0]["properties"]["name"], "A");
        let lines = mesh(&topology, "shapes", 2).unwrap();
        let lines = lines["features"][0]["geometry"]["coordinates"]
            .as_array()
            .unwrap();
        assert_eq!(lines.len(), 2);
    }
}
