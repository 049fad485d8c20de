//! Engine benchmark: GetParameterValues of `Device.` and a 100-parameter SetParameterValues on
//! the full TR-181 model with realistic instance counts, and the memory of one loaded schema,
//! one template and one device state.
//!
//! Run: `cargo bench -p cwmp-model --bench engine` (prints numbers; asserts nothing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cwmp_model::facts::{BaseType, ParamAccess};
use cwmp_model::schema::Child;
use cwmp_model::{Device, Schema, Template, TemplateBuilder};
use cwmp_wire::rpc::{GetParameterNames, GetParameterValues, ParameterValueStruct, SetParameterValues};
use cwmp_wire::{Value, XsdType};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Runs `f` repeatedly for about `budget` and returns (iterations, mean time).
fn measure(budget: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    f();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    (n, start.elapsed() / n.max(1) as u32)
}

/// A home gateway: 4 Ethernet ports, 3 IP interfaces with addresses, 32 LAN hosts, 8 port
/// mappings, 2 radios with 4 SSIDs and access points (4 stations each), a DHCP pool with
/// static leases, a bridge with 5 ports, DNS servers and routes.
fn realistic(schema: &Arc<Schema>) -> Arc<Template> {
    let mut b = TemplateBuilder::new(schema.clone());
    let mut rows = |table: &str, n: usize| {
        for _ in 0..n {
            b.add(table).unwrap_or_else(|e| panic!("{table}: {e}"));
        }
    };
    rows("Device.Ethernet.Interface.", 4);
    rows("Device.Ethernet.Link.", 2);
    rows("Device.IP.Interface.", 3);
    for i in 1..=3 {
        rows(&format!("Device.IP.Interface.{i}.IPv4Address."), 1);
        rows(&format!("Device.IP.Interface.{i}.IPv6Address."), 2);
        rows(&format!("Device.IP.Interface.{i}.IPv6Prefix."), 1);
    }
    rows("Device.Hosts.Host.", 32);
    for i in 1..=32 {
        rows(&format!("Device.Hosts.Host.{i}.IPv4Address."), 1);
    }
    rows("Device.NAT.InterfaceSetting.", 1);
    rows("Device.NAT.PortMapping.", 8);
    rows("Device.WiFi.Radio.", 2);
    rows("Device.WiFi.SSID.", 4);
    rows("Device.WiFi.AccessPoint.", 4);
    for i in 1..=4 {
        rows(&format!("Device.WiFi.AccessPoint.{i}.AssociatedDevice."), 4);
    }
    rows("Device.DHCPv4.Server.Pool.", 1);
    rows("Device.DHCPv4.Server.Pool.1.StaticAddress.", 4);
    rows("Device.DHCPv4.Server.Pool.1.Client.", 8);
    rows("Device.Bridging.Bridge.", 1);
    rows("Device.Bridging.Bridge.1.Port.", 5);
    rows("Device.DNS.Client.Server.", 2);
    rows("Device.Routing.Router.", 1);
    rows("Device.Routing.Router.1.IPv4Forwarding.", 4);
    rows("Device.Firewall.Chain.", 1);
    rows("Device.Firewall.Chain.1.Rule.", 8);
    b.set("Device.DeviceInfo.SoftwareVersion", "1.2.3").unwrap();
    b.set("Device.DeviceInfo.Manufacturer", "Example").unwrap();
    b.set("Device.ManagementServer.URL", "http://acs.example:7547/").unwrap();
    for i in 1..=32 {
        b.set(&format!("Device.Hosts.Host.{i}.HostName"), &format!("host-{i}")).unwrap();
        b.set(&format!("Device.Hosts.Host.{i}.IPAddress"), &format!("192.168.1.{}", 100 + i)).unwrap();
    }
    b.build()
}

/// 100 writable free-text parameters of the realistic device (no enumeration, pattern,
/// reference or list facets), with values that fit their size limits.
fn hundred_values(device: &Device, schema: &Schema) -> Vec<ParameterValueStruct> {
    let names = device
        .get_parameter_names(&GetParameterNames { parameter_path: "Device.".into(), next_level: false })
        .unwrap()
        .parameter_list;
    let mut out = Vec::new();
    for info in names.into_iter().filter(|n| n.writable && !n.name.ends_with('.')) {
        let schema_path: String = info
            .name
            .split('.')
            .map(|n| if n.bytes().all(|b| b.is_ascii_digit()) { "{i}" } else { n })
            .collect::<Vec<_>>()
            .join(".");
        let Some(Child::Param(id)) = schema.lookup(&schema_path) else { continue };
        let f = &schema.param(id).facts;
        let plain = f.base == BaseType::String
            && f.access == ParamAccess::ReadWrite
            && f.list.is_none()
            && f.enumeration.is_empty()
            && f.enumeration_ref.is_none()
            && f.pattern.is_empty()
            && f.path_ref.is_none()
            && f.param != "Alias"
            && !f.hidden
            && f.size.iter().all(|s| s.1.is_none_or(|max| max >= 12) && s.0 <= 9);
        if plain {
            let value = format!("bench-{:04}", out.len());
            out.push(ParameterValueStruct::new(info.name, Value::new(XsdType::String, value)));
        }
        if out.len() == 100 {
            break;
        }
    }
    out
}

fn main() {
    let budget = Duration::from_secs(2);

    let before = live();
    let t = Instant::now();
    let schema = Arc::new(Schema::parse(cwmp_model::builtin::TR181_FACTS).unwrap());
    let parse_time = t.elapsed();
    let schema_bytes = live() - before;
    let objects = schema.objects().len();
    let params = schema.params().len();
    println!("TR-181 {}: {objects} objects, {params} parameters", schema.info().model);
    println!(
        "schema: parsed in {:.1} ms, {:.2} MB live heap",
        parse_time.as_secs_f64() * 1e3,
        schema_bytes as f64 / 1e6
    );

    let before = live();
    let template = realistic(&schema);
    let template_bytes = live() - before;
    let mut device = Device::new(template.clone());
    let all = device.get_parameter_values(&GetParameterValues { parameter_names: vec!["Device.".into()] }).unwrap();
    let rows = device
        .get_parameter_names(&GetParameterNames { parameter_path: "Device.".into(), next_level: false })
        .unwrap()
        .parameter_list
        .iter()
        .filter(|n| n.name.ends_with(".") && n.name.trim_end_matches('.').ends_with(|c: char| c.is_ascii_digit()))
        .count();
    println!(
        "realistic template: {rows} rows, {} parameter values, {:.1} KB live heap",
        all.parameter_list.len(),
        template_bytes as f64 / 1e3
    );

    let req = GetParameterValues { parameter_names: vec!["Device.".into()] };
    let (n, mean) = measure(budget, || {
        let r = device.get_parameter_values(&req).unwrap();
        std::hint::black_box(r);
    });
    println!(
        "GetParameterValues Device. ({} values): {:.0} ops/s ({:.2} ms each, {n} runs), {:.2} M values/s",
        all.parameter_list.len(),
        1.0 / mean.as_secs_f64(),
        mean.as_secs_f64() * 1e3,
        all.parameter_list.len() as f64 / mean.as_secs_f64() / 1e6
    );

    let list = hundred_values(&device, &schema);
    assert_eq!(list.len(), 100, "not enough plain writable parameters");
    let mut k = 0u64;
    let (n, mean) = measure(budget, || {
        k += 1;
        let req = SetParameterValues { parameter_list: list.clone(), parameter_key: format!("k{k}") };
        let r = device.set_parameter_values(&req).unwrap();
        std::hint::black_box(r);
    });
    println!(
        "SetParameterValues of 100 parameters: {:.0} ops/s ({:.1} us each, {n} runs)",
        1.0 / mean.as_secs_f64(),
        mean.as_secs_f64() * 1e6
    );

    // Per-device state: many devices over one template, each after a typical provisioning.
    let count = 10_000;
    let before = live();
    let mut fleet = Vec::with_capacity(count);
    for i in 0..count {
        let mut d = Device::new(template.clone());
        let req = SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new(
                    "Device.ManagementServer.URL",
                    Value::new(XsdType::String, "http://acs:7547/"),
                ),
                ParameterValueStruct::new(
                    "Device.ManagementServer.Username",
                    Value::new(XsdType::String, format!("cpe{i}")),
                ),
                ParameterValueStruct::new("Device.ManagementServer.Password", Value::new(XsdType::String, "secret")),
                ParameterValueStruct::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    Value::new(XsdType::UnsignedInt, "3600"),
                ),
                ParameterValueStruct::new("Device.DeviceInfo.ProvisioningCode", Value::new(XsdType::String, "BENCH")),
            ],
            parameter_key: "p1".into(),
        };
        d.set_parameter_values(&req).unwrap();
        fleet.push(d);
    }
    let fleet_bytes = live() - before;
    println!(
        "device state after a 5-value provisioning: {:.0} bytes each ({count} devices: {:.1} MB)",
        fleet_bytes as f64 / count as f64,
        fleet_bytes as f64 / 1e6
    );
    let before = live();
    let mut changed = Device::new(template.clone());
    changed
        .set_parameter_values(&SetParameterValues { parameter_list: list.clone(), parameter_key: "x".into() })
        .unwrap();
    changed
        .add_object(&cwmp_wire::rpc::AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "y".into(),
        })
        .unwrap();
    println!(
        "device state after the 100-value set and an AddObject (tree copied): {:.1} KB",
        (live() - before) as f64 / 1e3
    );
    std::hint::black_box((fleet, changed));
}
