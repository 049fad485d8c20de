//! ChangeDUState operations (A.4.1.10): repeated `Operations` elements whose concrete type
//! is given by `xsi:type`, not a SOAP array (digest trap 6.15).

#[cfg(test)]
use proptest::prelude::*;

use crate::codec::{Scalar, XmlStruct, xsi_type};
use crate::error::{DecodeError, ErrorKind};
use crate::rpc::structs::{InstallOpStruct, UninstallOpStruct, UpdateOpStruct};
use crate::xml::reader::{Cursor, Elem};
use crate::xml::writer::XmlWriter;

/// One ChangeDUState operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStruct {
    Install(InstallOpStruct),
    Update(UpdateOpStruct),
    Uninstall(UninstallOpStruct),
}

impl OperationStruct {
    fn type_name(&self) -> &'static str {
        match self {
            OperationStruct::Install(_) => "InstallOpStruct",
            OperationStruct::Update(_) => "UpdateOpStruct",
            OperationStruct::Uninstall(_) => "UninstallOpStruct",
        }
    }
}

fn decode_typed(cur: &mut Cursor<'_>, type_name: &str) -> Result<Option<OperationStruct>, DecodeError> {
    Ok(Some(match type_name {
        "InstallOpStruct" => OperationStruct::Install(InstallOpStruct::decode_fields(cur)?),
        "UpdateOpStruct" => OperationStruct::Update(UpdateOpStruct::decode_fields(cur)?),
        "UninstallOpStruct" => OperationStruct::Uninstall(UninstallOpStruct::decode_fields(cur)?),
        _ => return Ok(None),
    }))
}

/// Reads `<Operations xsi:type="cwmp:InstallOpStruct">…` and also the
/// `<Operations><InstallOpStruct>…</InstallOpStruct></Operations>` wrapper some stacks send.
pub struct OperationCodec;

impl Scalar<OperationStruct> for OperationCodec {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<OperationStruct, DecodeError> {
        if let Some(ty) = xsi_type(cur, elem)? {
            return decode_typed(cur, &ty)?.ok_or_else(|| {
                cur.error(ErrorKind::InvalidValue { element: tag, reason: format!("unknown operation type {ty:?}") })
            });
        }
        let mut found = None;
        while let Some(child) = cur.next_child()? {
            let name = child.local_name().to_owned();
            match decode_typed(cur, &name)? {
                Some(op) if found.is_none() => found = Some(op),
                Some(_) => return Err(cur.error(ErrorKind::DuplicateElement(tag))),
                None => cur.skip()?,
            }
        }
        found.ok_or_else(|| {
            cur.error(ErrorKind::InvalidValue { element: tag, reason: "operation without xsi:type".into() })
        })
    }

    fn encode(value: &OperationStruct, w: &mut XmlWriter, tag: &str) {
        let ty = format!("cwmp:{}", value.type_name());
        w.open_with(tag, &[("xsi:type", &ty)]);
        match value {
            OperationStruct::Install(op) => op.encode_fields(w),
            OperationStruct::Update(op) => op.encode_fields(w),
            OperationStruct::Uninstall(op) => op.encode_fields(w),
        }
        w.close(tag);
    }

    #[cfg(test)]
    fn strategy() -> BoxedStrategy<OperationStruct> {
        prop_oneof![
            InstallOpStruct::strategy().prop_map(OperationStruct::Install),
            UpdateOpStruct::strategy().prop_map(OperationStruct::Update),
            UninstallOpStruct::strategy().prop_map(OperationStruct::Uninstall),
        ]
        .boxed()
    }
}
