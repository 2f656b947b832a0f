//! Building SCALE values for the fake chain from the runtime's own type
//! registry: a default for any type, variants by name, fields by name. The
//! fake then encodes exactly what a TFChain 2.9 node would store or emit,
//! without hand-writing any nested layout.

use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};
use subxt::ext::scale_encode::EncodeAsType as _;
use subxt::ext::scale_value::{Composite, Value, ValueDef};

/// The zero value of type `id`: zeros, empty sequences, first variants.
pub fn default_of(types: &PortableRegistry, id: u32) -> Value {
    let ty = types.resolve(id).unwrap_or_else(|| panic!("no type {id}"));
    match &ty.type_def {
        TypeDef::Composite(c) => {
            let named = c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty();
            if named {
                Value::named_composite(
                    c.fields
                        .iter()
                        .map(|f| (f.name.clone().unwrap(), default_of(types, f.ty.id))),
                )
            } else {
                Value::unnamed_composite(c.fields.iter().map(|f| default_of(types, f.ty.id)))
            }
        }
        TypeDef::Variant(v) => {
            let first = v
                .variants
                .iter()
                .min_by_key(|v| v.index)
                .expect("a variant");
            variant_of(types, id, &first.name, |tys| {
                tys.iter().map(|t| default_of(types, *t)).collect()
            })
        }
        TypeDef::Sequence(_) => Value::unnamed_composite([]),
        TypeDef::Array(a) => {
            Value::unnamed_composite((0..a.len).map(|_| default_of(types, a.type_param.id)))
        }
        TypeDef::Tuple(t) => {
            Value::unnamed_composite(t.fields.iter().map(|f| default_of(types, f.id)))
        }
        TypeDef::Primitive(p) => match p {
            TypeDefPrimitive::Bool => Value::bool(false),
            TypeDefPrimitive::Str => Value::string(""),
            TypeDefPrimitive::Char => Value::char('\0'),
            TypeDefPrimitive::I8
            | TypeDefPrimitive::I16
            | TypeDefPrimitive::I32
            | TypeDefPrimitive::I64
            | TypeDefPrimitive::I128
            | TypeDefPrimitive::I256 => Value::i128(0),
            _ => Value::u128(0),
        },
        TypeDef::Compact(c) => default_of(types, c.type_param.id),
        TypeDef::BitSequence(_) => Value::bit_sequence(Default::default()),
    }
}

/// Variant `name` of type `id`; `fields` gets the variant's field types and
/// returns their values in order.
pub fn variant_of(
    types: &PortableRegistry,
    id: u32,
    name: &str,
    fields: impl FnOnce(&[u32]) -> Vec<Value>,
) -> Value {
    let ty = types.resolve(id).unwrap_or_else(|| panic!("no type {id}"));
    let TypeDef::Variant(v) = &ty.type_def else {
        panic!("type {id} ({:?}) is not an enum", ty.path.segments);
    };
    let Some(variant) = v.variants.iter().find(|v| v.name == name) else {
        let names: Vec<&str> = v.variants.iter().map(|v| v.name.as_str()).collect();
        panic!(
            "{:?} has no variant {name}; it has {names:?}",
            ty.path.segments
        );
    };
    let tys: Vec<u32> = variant.fields.iter().map(|f| f.ty.id).collect();
    let values = fields(&tys);
    if variant.fields.iter().all(|f| f.name.is_some()) && !variant.fields.is_empty() {
        let names = variant.fields.iter().map(|f| f.name.clone().unwrap());
        Value::named_variant(name, names.zip(values))
    } else {
        Value::unnamed_variant(name, values)
    }
}

/// The type of field `name` (or of the only unnamed field) in composite `id`.
pub fn field_type(types: &PortableRegistry, id: u32, name: &str) -> u32 {
    match &types.resolve(id).expect("type").type_def {
        TypeDef::Composite(c) => {
            c.fields
                .iter()
                .find(|f| f.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("type {id} has no field {name}"))
                .ty
                .id
        }
        TypeDef::Sequence(s) => s.type_param.id,
        other => panic!("type {id} is not a composite: {other:?}"),
    }
}

/// Replaces the named field at `path` inside `value`.
pub fn set(value: &mut Value, path: &[&str], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *value = new;
        return;
    };
    let composite = match &mut value.value {
        ValueDef::Composite(c) => c,
        ValueDef::Variant(v) => &mut v.values,
        _ => panic!("cannot set {first} in a non-composite"),
    };
    let Composite::Named(fields) = composite else {
        panic!("cannot set {first} in an unnamed composite");
    };
    let (_, field) = fields
        .iter_mut()
        .find(|(n, _)| n == first)
        .unwrap_or_else(|| panic!("no field {first}"));
    set(field, rest, new);
}

pub fn encode(types: &PortableRegistry, id: u32, value: &Value) -> Vec<u8> {
    value
        .encode_as_type(id, types)
        .unwrap_or_else(|e| panic!("cannot encode {value} as type {id}: {e}"))
}

/// The error a farm's node answers contract creation with once the farm
/// opted it out of v3 billing (`tfgrid-v3.md`, the 2026 design record).
pub const OPTED_OUT: &str = "OnlyTwinAdminCanDeployOnThisNode";

/// `metadata` (SCALE, V14) as a later runtime serves it: runtime 2.9 has no
/// [`OPTED_OUT`] error yet, so it is added to `SmartContractModule`'s
/// errors. The client names a refusal from the metadata it fetched, so
/// without this the fake could not refuse that way.
pub fn with_opt_out_error(metadata: &[u8]) -> Vec<u8> {
    use scale_info::Variant;
    use subxt::ext::codec::{Decode as _, Encode as _};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};

    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &metadata[..]).unwrap();
    let RuntimeMetadata::V14(m) = &mut prefixed.1 else {
        panic!("the bundled metadata is V14");
    };
    let pallet = m
        .pallets
        .iter()
        .find(|p| p.name == "SmartContractModule")
        .unwrap();
    let error_ty = pallet.error.as_ref().unwrap().ty.id;
    let ty = m.types.types.iter_mut().find(|t| t.id == error_ty).unwrap();
    let TypeDef::Variant(errors) = &mut ty.ty.type_def else {
        panic!("pallet errors are a variant");
    };
    if errors.variants.iter().all(|v| v.name != OPTED_OUT) {
        let index = errors.variants.iter().map(|v| v.index).max().unwrap() + 1;
        errors.variants.push(Variant {
            name: OPTED_OUT.into(),
            fields: Vec::new(),
            index,
            docs: Vec::new(),
        });
    }
    prefixed.encode()
}
