//! `cwmp-model`: the CPE-side data-model engine of the CWMP suite.
//!
//! - [`import`] reads the Broadband Forum's data-model XML (and device parameter dumps) into
//!   [`facts`] files; [`builtin`] embeds the shipped TR-181 and TR-098 fact files.
//! - [`Schema`] is the immutable, indexed model, parsed once and shared (`Arc`) by every
//!   device that implements it ([`tr181`], [`tr098`]).
//! - [`Template`] holds initial rows and values shared by many devices; a [`Device`] stores
//!   only what differs from its template, so a simulator can hold many thousands of them.
//! - [`Device`] answers the parameter RPCs of TR-069 A.3.2 (`get_parameter_values`,
//!   `get_parameter_names`, `set_parameter_values`, `get_parameter_attributes`,
//!   `set_parameter_attributes`, `add_object`, `delete_object`) taking the request structs of
//!   `cwmp_wire::rpc` and returning their responses or a `cwmp_wire::Fault`; it builds Inform
//!   parameter lists ([`Device::inform_parameters`], [`Device::has_active_change`],
//!   [`Device::clear_changes`]), takes the device's own changes ([`Device::set_local`],
//!   [`Device::add_local`], [`Device::delete_local`]), reads values from a
//!   [`backend::Backend`], and saves its state atomically through a [`persist::StateStore`]
//!   ([`Device::open`]).
//!
//! ```
//! use cwmp_model::{Device, Template, tr181};
//! use cwmp_wire::rpc::{AddObject, GetParameterValues};
//!
//! let mut device = Device::new(Template::new(tr181()));
//! let added = device
//!     .add_object(&AddObject { object_name: "Device.NAT.PortMapping.".into(), parameter_key: "k1".into() })
//!     .unwrap();
//! let values = device
//!     .get_parameter_values(&GetParameterValues {
//!         parameter_names: vec![format!("Device.NAT.PortMapping.{}.Alias", added.instance_number)],
//!     })
//!     .unwrap();
//! assert_eq!(values.parameter_list[0].value.text, "cpe-1");
//! assert_eq!(device.parameter_key(), "k1");
//! ```

mod address;
pub mod backend;
pub mod builtin;
mod device;
pub mod facts;
pub mod import;
mod notify;
pub mod persist;
mod refs;
mod rpc;
pub mod schema;
pub mod syntax;
mod template;
mod tree;

pub use device::{Attributes, Device, Features, ModelError};
pub use notify::InformParameters;
pub use schema::{Schema, tr098, tr181};
pub use template::{Template, TemplateBuilder};

#[cfg(test)]
mod tests {
    #[test]
    fn devices_move_between_threads_and_schemas_are_shared() {
        fn send<T: Send>() {}
        fn shared<T: Send + Sync>() {}
        send::<crate::Device>();
        shared::<crate::Schema>();
        shared::<crate::Template>();
    }
}
