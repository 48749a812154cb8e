// The m2t page: sends the form to v1/describe and shows the answer, or each error next to its field.
// Plain JavaScript, no build step. URLs are relative (the page may sit under a path prefix). The API key lives in
// this tab only (sessionStorage, else memory) and travels only as the Authorization header, never in a URL.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_SLOT = "m2t.api_key";
  const FIELDS = ["api_key", "wild_type", "mutations", "mutant", "protein_name", "function", "max_new_tokens",
    "temperature"];
  let memoryKey = "";

  const tabStore = {
    get() {
      try { return window.sessionStorage.getItem(KEY_SLOT) || ""; } catch (e) { return memoryKey; }
    },
    set(value) {
      memoryKey = value;
      try {
        if (value) window.sessionStorage.setItem(KEY_SLOT, value); else window.sessionStorage.removeItem(KEY_SLOT);
      } catch (e) { /* storage off: memory only */ }
    },
  };

  function headers(json) {
    const h = json ? { "Content-Type": "application/json" } : {};
    const key = tabStore.get();
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  // A sequence as typed or pasted: FASTA header and comment lines dropped, whitespace removed.
  // More than one FASTA record is an error (the API takes one sequence per field).
  function sequence(text, field) {
    const lines = text.split(/\r?\n/);
    const headersSeen = lines.filter((l) => l.trim().startsWith(">")).length;
    if (headersSeen > 1) {
      throw { field, msg: `this FASTA has ${headersSeen} records: paste one sequence` };
    }
    return lines.filter((l) => !/^\s*[>;]/.test(l)).join("").replace(/\s+/g, "");
  }

  function clearErrors() {
    for (const name of [...FIELDS, "body"]) {
      const slot = $("e-" + name);
      if (slot) slot.textContent = "";
      const input = $(name);
      if (input) input.removeAttribute("aria-invalid");
    }
    $("status").textContent = "";
    $("status").className = "";
  }

  // An error in words next to its field; "body" is the mutation box (e.g. both or neither of the two ways).
  function showError(field, msg) {
    const slot = $("e-" + field) || $("e-body");
    slot.textContent = slot.textContent ? slot.textContent + "\n" + msg : msg;
    const input = $(field);
    if (input) input.setAttribute("aria-invalid", "true");
    const folded = slot.closest("details");
    if (folded) folded.open = true;  // never an error out of sight
  }

  function showStatus(msg, bad) {
    $("status").textContent = msg;
    $("status").className = bad ? "bad" : "";
  }

  function askForKey(msg) {
    $("f-api_key").hidden = false;
    showError("api_key", msg);
    $("api_key").focus();
  }

  // pydantic says "Value error, <reason>" for the model's own checks; the reason is the words we want.
  const words = (msg) => String(msg).replace(/^Value error, /, "");

  async function detailOf(response) {
    const text = await response.text();
    try { return JSON.parse(text).detail; } catch (e) { return text || response.statusText; }
  }

  async function showFailure(response, body) {
    const detail = await detailOf(response);
    if (response.status === 401) {
      askForKey(tabStore.get()
        ? "The server refused this key (401): check it and try again."
        : "This server needs an API key (401): enter it here, then describe again.");
    } else if (response.status === 413) {
      const big = (body.mutant || "").length > body.wild_type.length ? "mutant" : "wild_type";
      showError(big, `Too large for this server (413): ${detail}`);
    } else if (response.status === 422 && Array.isArray(detail)) {
      for (const e of detail) {
        const loc = Array.isArray(e.loc) ? e.loc : [];
        const field = loc[0] === "body" && FIELDS.includes(loc[1]) ? loc[1] : "body";
        showError(field, words(e.msg));
      }
      showStatus("The server could not use this input (422): see the marked fields.", true);
    } else {
      const what = { 408: "took too long", 503: "is busy", 500: "failed" }[response.status] || "answered";
      showStatus(`The server ${what} (${response.status}): ${typeof detail === "string" ? detail : JSON.stringify(detail)}`, true);
    }
  }

  function showResult(answer) {
    $("description").textContent = answer.description;
    $("normalised").textContent = answer.mutations.join(", ");
    $("answered-by").textContent = answer.model;
    const t = answer.timings;
    const ms = (v) => `${Number(v).toFixed(1)} ms`;
    $("timings").textContent = `total ${ms(t.total_ms)} (queue ${ms(t.queue_ms)}, encode ${ms(t.encode_ms)}, ` +
      `generate ${ms(t.generate_ms)}), batch of ${t.batch_size}`;
    $("result").hidden = false;
  }

  function requestBody() {
    const body = { wild_type: sequence($("wild_type").value, "wild_type") };
    if ($("mode-mutant").checked) body.mutant = sequence($("mutant").value, "mutant");
    else body.mutations = $("mutations").value.trim();
    for (const name of ["protein_name", "function"]) {
      const value = $(name).value.trim();
      if (value) body[name] = value;
    }
    for (const name of ["max_new_tokens", "temperature"]) {
      const value = $(name).value.trim();
      if (value) body[name] = Number(value);
    }
    return body;
  }

  async function describe(event) {
    event.preventDefault();
    clearErrors();
    tabStore.set($("api_key").value.trim());
    let body;
    try {
      body = requestBody();
    } catch (e) {
      showError(e.field, e.msg);
      return;
    }
    $("submit").disabled = true;
    $("result").hidden = true;
    showStatus("Describing…");
    try {
      const response = await fetch("v1/describe", { method: "POST", headers: headers(true), body: JSON.stringify(body) });
      if (response.ok) {
        showStatus("");
        showResult(await response.json());
      } else {
        await showFailure(response, body);
      }
    } catch (e) {
      showStatus(`Could not reach the server: ${e.message}`, true);
    } finally {
      $("submit").disabled = false;
    }
  }

  // Which model answers, and whether a key is needed: asked once on load (and again after a new key).
  async function loadModel() {
    try {
      const response = await fetch("v1/model", { headers: headers(false) });
      if (response.status === 401) {
        $("f-api_key").hidden = false;
        $("model").textContent = "This server needs an API key.";
        return;
      }
      if (!response.ok) return;
      const info = await response.json();
      $("model").textContent = `Model ${info.model}; sequences up to ${info.limits.max_length} residues.`;
    } catch (e) { /* the form still works; errors show on submit */ }
  }

  function showMode() {
    const byMutant = $("mode-mutant").checked;
    $("by-mutant").hidden = !byMutant;
    $("by-mutations").hidden = byMutant;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("api_key").value = tabStore.get();
    if ($("api_key").value) $("f-api_key").hidden = false;
    $("api_key").addEventListener("change", () => {
      tabStore.set($("api_key").value.trim());
      loadModel();
    });
    $("mode-mutations").addEventListener("change", showMode);
    $("mode-mutant").addEventListener("change", showMode);
    $("describe").addEventListener("submit", describe);
    showMode();
    loadModel();
  });
})();
