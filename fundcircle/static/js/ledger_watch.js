// The browser as a witness of the circle's ledger: it keeps the last signed checkpoint it saw (localStorage) and,
// on each visit, asks the server to prove (RFC 9162 consistency proof) that today's log extends that one. The proof
// is checked here, with the browser's own SHA-256, so a server that rewrote or cut the history cannot pass it.
(function () {
  "use strict";
  var box = document.getElementById("ledger-watch");
  if (!box || !window.crypto || !window.crypto.subtle || !window.localStorage || !window.fetch) { return; }
  var storeKey = "fundcircle.ledger-checkpoint." + box.getAttribute("data-circle");

  // The words come from the page (templates/ledger/watch.html), in the reader's language: data-say-NAME holds a
  // sentence whose {name} places take the numbers.
  function words(name, values) {
    var text = box.getAttribute("data-say-" + name) || "";
    return text.replace(/\{(\w+)\}/g, function (place, key) {
      return Object.prototype.hasOwnProperty.call(values || {}, key) ? String(values[key]) : place;
    });
  }

  function hexToBytes(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(i * 2, 2), 16); }
    return out;
  }
  function bytesToHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function nodeHash(left, right) {
    var data = new Uint8Array(1 + left.length + right.length);
    data[0] = 1; data.set(left, 1); data.set(right, 1 + left.length);
    return window.crypto.subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); });
  }

  // RFC 9162 2.1.4.2, step by step (sizes stay below 2^31, so bit operations are exact).
  async function verifyConsistency(first, second, firstRoot, secondRoot, proofHex) {
    if (first === second) { return proofHex.length === 0 && firstRoot === secondRoot; }
    if (first === 0) { return proofHex.length === 0; }
    var path = proofHex.map(hexToBytes);
    if ((first & (first - 1)) === 0) { path.unshift(hexToBytes(firstRoot)); }
    if (path.length === 0) { return false; }
    var fn = first - 1, sn = second - 1;
    while (fn & 1) { fn >>= 1; sn >>= 1; }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === 0) { return false; }
      if ((fn & 1) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!(fn & 1)) { while (fn !== 0 && !(fn & 1)) { fn >>= 1; sn >>= 1; } }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1; sn >>= 1;
    }
    return sn === 0 && bytesToHex(fr) === firstRoot && bytesToHex(sr) === secondRoot;
  }

  function say(text, warning) {
    box.textContent = text;
    box.hidden = false;
    box.className = warning ? "ledger-watch ledger-warning" : "ledger-watch";
    // Only a warning is announced (an alert): the reassurance shows on every page, and a screen reader would read
    // it out on every visit, over the page's own status messages.
    if (warning) { box.setAttribute("role", "alert"); } else { box.removeAttribute("role"); }
    box.setAttribute("data-outcome", warning ? "warning" : "consistent");
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(words("server-answered", { status: r.status })); }
      return r.json();
    });
  }

  async function check() {
    var now = await getJSON(box.getAttribute("data-checkpoint-url"));
    var kept = null;
    try { kept = JSON.parse(window.localStorage.getItem(storeKey) || "null"); } catch (e) { kept = null; }
    if (!kept) {
      window.localStorage.setItem(storeKey, JSON.stringify({ size: now.size, root: now.root_hash, key: now.verifier_key }));
      say(words("kept", { size: now.size }), false);
      return;
    }
    if (kept.key !== now.verifier_key) {
      say(words("other-key"), true);
      return;
    }
    if (now.size < kept.size) {
      say(words("fewer", { size: now.size, kept: kept.size }), true);
      return;
    }
    var proof = await getJSON(box.getAttribute("data-consistency-url") + "?from=" + kept.size + "&to=" + now.size);
    var ok = proof.from_root === kept.root && proof.to_root === now.root_hash &&
      await verifyConsistency(kept.size, now.size, kept.root, now.root_hash, proof.proof);
    if (!ok) {
      say(words("unproven", { size: now.size, kept: kept.size }), true);
      return;  // the old checkpoint is kept, so the warning stays until the server can prove it
    }
    window.localStorage.setItem(storeKey, JSON.stringify({ size: now.size, root: now.root_hash, key: now.verifier_key }));
    say(words("extends", { size: now.size, kept: kept.size }), false);
  }

  check().catch(function (error) {
    say(words("failed", { reason: error.message }), true);
  });
})();
