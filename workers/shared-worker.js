// Convoy's SharedWorker entry. Tabs connect at once, but the wasm takes a while to start:
// connections and the messages on them are held here until `run_shared_worker` takes them over
// (it replaces these handlers), so no tab's hello is lost.
"use strict";
// The API's origin when it is not the app's (`?api=`, set by the page from its convoy-api meta).
self.convoyApi = new URL(self.location.href).searchParams.get("api") || "";
self.convoyEarly = [];
self.onconnect = (event) => {
  const held = { port: event.ports[0], messages: [] };
  held.port.onmessage = (message) => held.messages.push(message.data);
  self.convoyEarly.push(held);
};
// Relative to this script, which the app loads from its public URL.
importScripts("convoy-shared-worker.js");
wasm_bindgen({ module_or_path: "convoy-shared-worker_bg.wasm" });
