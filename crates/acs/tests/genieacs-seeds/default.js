// Keep what an operator looks at fresh: once an hour, at a minute of the hour that depends on
// the device. Paths of both data models: a device has only one of them, and the other
// matches nothing.
const hour = Date.now(60 * 60 * 1000);
const fresh = {path: hour, value: hour};

for (const name of ["HardwareVersion", "SoftwareVersion"]) {
  declare(`InternetGatewayDevice.DeviceInfo.${name}`, fresh);
  declare(`Device.DeviceInfo.${name}`, fresh);
}
declare("InternetGatewayDevice.WANDevice.*.WANConnectionDevice.*.WANIPConnection.*.ExternalIPAddress", fresh);
declare("InternetGatewayDevice.LANDevice.*.WLANConfiguration.*.SSID", fresh);
declare("Device.WiFi.SSID.*.SSID", fresh);
// Devices hide pass phrases when read: read them once, never again.
declare("InternetGatewayDevice.LANDevice.*.WLANConfiguration.*.KeyPassphrase", {path: hour, value: 1});
declare("InternetGatewayDevice.LANDevice.*.Hosts.Host.*.MACAddress", fresh);
declare("Device.Hosts.Host.*.PhysAddress", fresh);
