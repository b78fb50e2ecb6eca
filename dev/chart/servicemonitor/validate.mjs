// Reads a JSON array of ServiceMonitor objects on stdin; prints one JSON array of error
// strings per object ([] when it is valid), validated against the prometheus-operator CRD's
// openAPIV3Schema as @kubernetes-models/prometheus-operator compiles it.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((doc) => {
  try {
    new ServiceMonitor(doc).validate();
    return [];
  } catch (e) {
    return String(e.message).split(", ");
  }
});
process.stdout.write(JSON.stringify(results));
