// Convoy's service worker (served as `sw.js` at the root of the app's public URL).
//
// 1. The relay: `convoy-service-worker` (Rust, over the core relay hub) holds the one upstream
//    as a fetch stream and posts frames to the app's windows. Messages that arrive before its
//    wasm runs are queued in `self.convoyEarly` and handed over by `run_service_worker`.
// 2. The app shell, for a CDN and offline: install precaches index.html and every asset it
//    names (the build's hashed js, wasm, css) plus the worker bundles; navigations go to the
//    network first and fall back to the cached shell; assets come from the cache. A new build
//    waits until the app asks it to take over ("skip-waiting"); activate deletes older caches.
// 3. Notifications' clicks: the app's alerts are shown through this registration (by the relay
//    here, or by the tab that holds the stream), so clicking one lands here even with no tab
//    left. It closes the notification and brings a Convoy window to the alert's truck.
"use strict";

// Stamped per build by the Trunk post-build hook (a hash of index.html and the worker bundles).
const BUILD = "__CONVOY_BUILD__";
const CACHE_PREFIX = "convoy-shell-";
const SHELL = CACHE_PREFIX + BUILD;
const WORKER_FILES = [
  "shared-worker.js",
  "convoy-shared-worker.js",
  "convoy-shared-worker_bg.wasm",
  "convoy-service-worker.js",
  "convoy-service-worker_bg.wasm",
  "convoy-hub-worker_loader.js",
  "convoy-hub-worker.js",
  "convoy-hub-worker_bg.wasm",
];

// The API's origin when it is not the app's (`?api=`, set by the page from its convoy-api meta).
self.convoyApi = new URL(self.location.href).searchParams.get("api") || "";
self.convoyEarly = [];

self.addEventListener("message", (event) => {
  if (event.data === "convoy:skip-waiting") {
    self.skipWaiting();
    return;
  }
  if (event.data === "convoy:build") {
    if (event.source) event.source.postMessage("convoy:build:" + BUILD);
    return;
  }
  if (self.convoyOnMessage) {
    self.convoyOnMessage(event.source, event.data);
  } else {
    self.convoyEarly.push({ source: event.source, data: event.data });
  }
});

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const shell = await fetch("./", { cache: "no-store" });
      if (!shell.ok) throw new Error("the app shell did not load");
      const html = await shell.clone().text();
      const assets = new Set(WORKER_FILES);
      for (const match of html.matchAll(/(?:href|src)=["']([^"']+\.(?:js|wasm|css|svg|webmanifest))["']/g)) {
        assets.add(match[1]);
      }
      for (const match of html.matchAll(/(?:import|from)\s*['"]([^'"]+\.js)['"]/g)) {
        assets.add(match[1]);
      }
      for (const match of html.matchAll(/module_or_path:\s*['"]([^'"]+\.wasm)['"]/g)) {
        assets.add(match[1]);
      }
      const cache = await caches.open(SHELL);
      await cache.put("./", shell);
      await cache.addAll([...assets].map((url) => new Request(url, { cache: "no-store" })));
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== SHELL) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (request.method !== "GET" || url.origin !== scope.origin) return;
  // The API and the stream are live data: straight to the network.
  if (url.pathname.startsWith(scope.pathname + "api/")) return;
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).catch(async () => {
        const cache = await caches.open(SHELL);
        const shell = await cache.match("./");
        if (!shell) return Response.error();
        // Tell the app it is the cached shell (it then says it is offline).
        const html = (await shell.text()).replace("<head>", '<head><meta name="convoy-offline" content="1">');
        return new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8" } });
      }),
    );
    return;
  }
  event.respondWith(
    caches.open(SHELL).then(async (cache) => (await cache.match(request)) || fetch(request)),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const scope = self.registration.scope;
  // Truck ids are letters, digits and "-" (the relay checks them); anything else opens the fleet.
  const truck = typeof data.truck === "string" && /^[A-Za-z0-9-]{1,32}$/.test(data.truck) ? data.truck : null;
  const target = new URL(truck ? "trucks/" + truck : "./", scope).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => client.url.startsWith(scope));
      if (!open) {
        await self.clients.openWindow(target);
        return;
      }
      const focused = (await open.focus()) || open;
      // The app routes it in place (see `shell.rs`): no reload, so a leading tab keeps its stream.
      focused.postMessage({ convoyNavigate: target });
    })(),
  );
});

importScripts("convoy-service-worker.js");
wasm_bindgen({ module_or_path: "convoy-service-worker_bg.wasm" });
