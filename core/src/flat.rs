//! Tagged enums read in one pass. serde's internally and adjacently tagged enums first buffer
//! the whole object in its private `Content` type, which costs the wasm app tens of KB per
//! enum; reading every variant's fields into one flat struct of `Option`s and then picking the
//! variant's ones reads the same JSON in one pass. [`flat_enum!`] writes that reader from one
//! declaration, so each field is listed once.

/// Declares a tagged enum that serializes as serde derives it (its attributes are kept) and
/// deserializes in one pass. Each field is declared once with its type: in `common` (fields
/// every variant has, read as required whatever the tag) or in `fields` (every variant that
/// names it shares the type). Each variant then names the fields it takes:
/// - `name: common`: one of `common`;
/// - `name`: required (`missing field` when absent);
/// - `name: opt`: an `Option` of the field's type, `None` when absent;
/// - `name: or(expr)`: the field's type, `expr` when absent.
///
/// A variant is a unit, `{ fields }`, `= Struct { fields }` (a newtype over a struct read from
/// the same object) or `(field)` (a newtype over one field: an adjacently tagged enum's
/// content). `checked by f` fails the read with `f(&value)`'s error. The flat struct, the tag's
/// enum and each field's type live in the private module named after `in mod`.
macro_rules! flat_enum {
    (@ty $m:ident $f:ident) => { $m::$f };
    (@ty $m:ident $f:ident opt) => { Option<$m::$f> };
    (@ty $m:ident $f:ident or) => { $m::$f };
    (@ty $m:ident $f:ident common) => { $m::$f };
    (@take $flat:ident $f:ident) => { $crate::wire::required($flat.$f, stringify!($f))? };
    (@take $flat:ident $f:ident opt) => { $flat.$f };
    (@take $flat:ident $f:ident or ($default:expr)) => { $flat.$f.unwrap_or_else(|| $default) };
    (@take $flat:ident $f:ident common) => { $flat.$f };
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident in mod $m:ident, tag $tag:literal $(, checked by $check:path)? {
            common { $($common:ident : $cty:ty),* $(,)? }
            fields { $($field:ident : $fty:ty),* $(,)? }
            $(
                $(#[$vattr:meta])*
                $variant:ident
                $({
                    $(
                        $(#[$fattr:meta])*
                        $vfield:ident $(: $how:ident $(($default:expr))?)?
                    ),* $(,)?
                })?
                $(= $inner:ident {
                    $($ifield:ident $(: $ihow:ident $(($idefault:expr))?)?),* $(,)?
                })?
                $(($content:ident))?
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $(
                $(#[$vattr])*
                $variant
                $({
                    $(
                        $(#[$fattr])*
                        $vfield: $crate::flat::flat_enum!(@ty $m $vfield $($how)?)
                    ),*
                })?
                $(($inner))?
                $(($m::$content))?
            ),*
        }

        #[allow(non_camel_case_types)]
        mod $m {
            #[allow(unused_imports)]
            use super::*;

            // The variants' field types (one only a newtype's struct reads goes unused).
            $(#[allow(dead_code)] pub(super) type $common = $cty;)*
            $(#[allow(dead_code)] pub(super) type $field = $fty;)*

            #[derive(serde::Deserialize)]
            #[serde(rename_all = "snake_case")]
            pub(super) enum Kind {
                $($variant),*
            }

            /// Every field of every variant.
            #[derive(serde::Deserialize)]
            pub(super) struct Flat {
                #[serde(rename = $tag)]
                pub(super) tag: Kind,
                $(pub(super) $common: $cty,)*
                $(pub(super) $field: Option<$fty>,)*
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let flat = $m::Flat::deserialize(deserializer)?;
                let value = match flat.tag {
                    $(
                        $m::Kind::$variant => $name::$variant
                        $({
                            $(
                                $vfield: $crate::flat::flat_enum!(
                                    @take flat $vfield $($how $(($default))?)?
                                )
                            ),*
                        })?
                        $((
                            $inner {
                                $(
                                    $ifield: $crate::flat::flat_enum!(
                                        @take flat $ifield $($ihow $(($idefault))?)?
                                    )
                                ),*
                            }
                        ))?
                        $((
                            $crate::flat::flat_enum!(@take flat $content)
                        ))?
                    ),*
                };
                $($check(&value).map_err(<D::Error as serde::de::Error>::custom)?;)?
                Ok(value)
            }
        }
    };
}

pub(crate) use flat_enum;
