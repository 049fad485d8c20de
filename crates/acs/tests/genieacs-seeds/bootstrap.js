// A device that bootstraps may be a new one behind an old identity, or a reset one: forget
// what the ACS holds of both data models, so what is needed is read again.
const started = Date.now();
for (const root of ["InternetGatewayDevice", "Device"]) clear(root, started);
