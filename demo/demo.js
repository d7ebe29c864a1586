// The live demo: the capstone's fp32 and int8 pose models, run with LiteRT.js on a figure you pose.
//
// Loading: models/models.json (written by course_lib.webdemo.export_models) lists the model files with
// their sha256; each file is fetched, checked, compiled for the CPU (WebAssembly, one thread) and its
// input shape checked. Every failure is shown on the page and the rest keeps working.
// Test hooks (tests/test_demo.py): window.demo.run(mode, Float32Array) returns a model's raw output.
import { JOINTS, LIMBS, SIZE, bboxSize, decode, occluder, poseFromAngles, randomAngles, render, rng }
  from "./figure.js";

const WASM_DIR = new URL("./vendor/@litertjs/core/wasm/", import.meta.url).href;
const MODELS_URL = new URL("./models/models.json", import.meta.url).href;
const INPUT_SHAPE = [1, SIZE, SIZE, 3];
const OUTPUT_SHAPE = [1, 16, 16, 16];
const REPEATS = 20;
const WARMUP = 20;             // also gives the browser time to optimise the WebAssembly code
const SCALE = 384 / SIZE;            // canvas pixels per image pixel
const DEFAULT_ANGLES = { lean: 0, r_arm: 0.6, l_arm: 1.2, r_thigh: 0.2, l_thigh: 0.5, r_knee: 0.3, l_knee: 0.8 };
const MODEL_STYLE = { float32: { colour: "#ffd43b", shape: "circle" }, int8: { colour: "#f06595", shape: "square" } };

const $ = (id) => document.getElementById(id);
const state = {
  angles: { ...DEFAULT_ANGLES },
  joints: poseFromAngles(DEFAULT_ANGLES),
  seed: 1,
  occluder: null,          // the occluder box (figure.js occluder()) while the checkbox is ticked
  image: null,
  source: "figure",        // "figure" or "camera"
  models: {},              // mode -> {label, file, bytes, entry, compiled, latency}
  predictions: {},         // mode -> {coords, peaks, maps}
  inferences: 0,
  errors: [],
  heatJoint: JOINTS.indexOf("r_wrist"),
  camera: { stream: null, frames: 0, status: "off" },
};
let litert = null;
let busy = false, pending = false;

// ------------------------------------------------------------------ messages
function status(text) { $("status").textContent = text; }

function error(text) {
  state.errors.push(text);
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  $("errors").appendChild(p);
}

// ------------------------------------------------------------------ loading
async function loadRuntime() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
    throw new Error("This browser has no WebAssembly, which LiteRT.js needs to run the models. Use a current "
      + "Chrome, Edge, Firefox or Safari, with WebAssembly enabled. You can still pose the figure.");
  }
  try {
    litert = await import("@litertjs/core");
  } catch (e) {
    throw new Error(`LiteRT.js could not be loaded from vendor/@litertjs/ (${e.message}). Run \`npm ci\` and `
      + "serve the page with `make demo`, or use the page built by `make site`.");
  }
  try {
    await litert.loadLiteRt(WASM_DIR);
  } catch (e) {
    throw new Error(`LiteRT.js's WebAssembly runtime did not start (${e.message || e}).`);
  }
}

async function sha256(bytes) {
  if (!crypto.subtle) return null;   // only in secure contexts (https, localhost)
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The batch dimension may be -1 (dynamic, as the converter writes it) or 1: the page runs one image.
const sameShape = (a, b) => a.length === b.length && a.every((v, i) => Number(v) === b[i] || (i === 0 && v === -1));
const fmtShape = (s) => `[${Array.from(s).join(", ")}]`;

async function loadModel(entry) {
  const where = `models/${entry.file}`;
  const response = await fetch(new URL(entry.file, MODELS_URL)).catch((e) => ({ ok: false, status: e.message }));
  if (!response.ok) {
    throw new Error(`The ${entry.label} model file ${where} is missing (HTTP ${response.status}). Export the models `
      + "with notebook 09 (webdemo.export_models) or restore them with git.");
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await sha256(bytes);
  if (digest === null) state.hashUnchecked = true;
  if (digest !== null && digest !== entry.sha256) {
    throw new Error(`The ${entry.label} model file ${where} is corrupt or not the exported one: its sha256 is `
      + `${digest.slice(0, 12)}…, models.json says ${entry.sha256.slice(0, 12)}… (${bytes.length} bytes, `
      + `expected ${entry.bytes}). Export the models again or restore them with git.`);
  }
  let compiled;
  try {
    compiled = await litert.loadAndCompile(bytes, { accelerator: "wasm", cpuOptions: { numThreads: 1 } });
  } catch (e) {
    throw new Error(`LiteRT.js could not load the ${entry.label} model ${where}: ${e.message || e}`);
  }
  const input = compiled.getInputDetails()[0], output = compiled.getOutputDetails()[0];
  if (!sameShape(input.shape, INPUT_SHAPE) || input.dtype !== "float32") {
    compiled.delete();
    throw new Error(`The ${entry.label} model ${where} takes input ${fmtShape(input.shape)} ${input.dtype}, but the `
      + `page feeds ${fmtShape(INPUT_SHAPE)} float32 (a 64×64 RGB image in [0, 1]). Export a 64×64 model.`);
  }
  if (!sameShape(output.shape, OUTPUT_SHAPE) || output.dtype !== "float32") {
    compiled.delete();
    throw new Error(`The ${entry.label} model ${where} gives output ${fmtShape(output.shape)} ${output.dtype}; the `
      + `page decodes ${fmtShape(OUTPUT_SHAPE)} float32 heat maps (16 joints at stride 4).`);
  }
  return { ...entry, label: entry.label, compiled, size: bytes.length, latency: null };
}

async function loadModels() {
  let manifest;
  try {
    const response = await fetch(MODELS_URL);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    manifest = await response.json();
  } catch (e) {
    throw new Error(`models/models.json could not be read (${e.message}): export the models with notebook 09 `
      + "(webdemo.export_models) or restore them with git.");
  }
  const entries = Array.isArray(manifest.models) ? manifest.models : [];
  for (const entry of entries) {
    for (const el of document.querySelectorAll(`.label-${entry.mode}`)) el.textContent = entry.label;
  }
  const loaded = await Promise.allSettled(entries.map(loadModel));
  $("provenance").textContent = provenanceText(manifest) + (state.hashUnchecked
    ? " The files' sha256 could not be checked here (browsers offer it only over https or on localhost)." : "");
  loaded.forEach((result, i) => {
    if (result.status === "fulfilled") state.models[entries[i].mode] = result.value;
    else error(result.reason.message || String(result.reason));
  });
}

function provenanceText(manifest) {
  const first = (manifest.models || [])[0];
  if (!first) return "";
  const pck = (manifest.models || []).map((m) => `${m.label} ${fmtPct(m.pck && m.pck["PCK@0.2"])}`).join(", ");
  const date = String(first.date || "").replace("T", " ").replace(/:\d\d(\+00:00)?$/, " UTC");
  return `Models from: ${first.notebook} (exported ${date}). PCK@0.2 measured there on synthetic test figures: `
    + `${pck}. Sizes, sha256 and quantization are in models/models.json.`;
}

// ------------------------------------------------------------------ inference
/** One call as a visitor's change makes it: input tensor, run, read the output, free the tensors. */
async function runOnce(compiled, input, shape) {
  const tensor = new litert.Tensor(input, shape);
  try {
    const outputs = await compiled.run([tensor]);
    const data = outputs[0].toTypedArray().slice();
    for (const t of outputs) t.delete();
    return data;
  } finally {
    tensor.delete();
  }
}

/** Run one model on a 64×64×3 float image; resolves to its raw output (Float32Array, NHWC). */
async function runModel(mode, input) {
  const model = state.models[mode];
  if (!model) throw new Error(`model ${mode} is not loaded`);
  if (!(input instanceof Float32Array) || input.length !== SIZE * SIZE * 3) {
    throw new Error(`the input must be a Float32Array of ${SIZE * SIZE * 3} values (64×64×3)`);
  }
  return runOnce(model.compiled, input, INPUT_SHAPE);
}

/** Median time of one call of a (tiny) model given as bytes: the runtime's fixed price per call. */
async function callOverhead(bytes, repeats = 50) {
  const compiled = await litert.loadAndCompile(Uint8Array.from(bytes), { accelerator: "wasm",
    cpuOptions: { numThreads: 1 } });
  const shape = Array.from(compiled.getInputDetails()[0].shape, (d) => (d < 0 ? 1 : d));
  const input = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const times = [];
  try {
    for (let i = 0; i < WARMUP + repeats; i++) {
      const t0 = performance.now();
      await runOnce(compiled, input, shape);
      if (i >= WARMUP) times.push(performance.now() - t0);
    }
  } finally {
    compiled.delete();
  }
  return median(times);
}

async function benchmark(repeats = REPEATS) {
  const input = state.image;
  const modes = Object.keys(state.models);
  for (const mode of modes) for (let i = 0; i < WARMUP; i++) await runModel(mode, input);
  const times = Object.fromEntries(modes.map((m) => [m, []]));
  for (let i = 0; i < repeats; i++) {          // interleaved, so both models see the same conditions
    for (const mode of modes) {
      const t0 = performance.now();
      await runModel(mode, input);
      times[mode].push(performance.now() - t0);
    }
  }
  for (const mode of modes) state.models[mode].latency = median(times[mode]);
  showLatency(repeats);
  drawTable();
  return Object.fromEntries(modes.map((m) => [m, state.models[m].latency]));
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function predict() {
  if (busy) { pending = true; return; }
  busy = true;
  try {
    do {
      pending = false;
      const input = state.image;
      for (const mode of Object.keys(state.models)) {
        const maps = await runModel(mode, input);
        state.predictions[mode] = { ...decode(maps), maps };
      }
      state.inferences += 1;
      draw();
    } while (pending);
  } catch (e) {
    error(`Running the models failed: ${e.message || e}`);
  } finally {
    busy = false;
  }
}

// ------------------------------------------------------------------ drawing
const fmtPct = (v) => (typeof v === "number" ? `${(100 * v).toFixed(1)}%` : "–");
const fmtMs = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(v < 1 ? 3 : 2)} ms`);

function imageToCanvas(img, ctx, x, y, w, h) {
  const small = document.createElement("canvas");
  small.width = small.height = SIZE;
  const sctx = small.getContext("2d");
  const data = sctx.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    for (let c = 0; c < 3; c++) data.data[4 * i + c] = Math.round(img[3 * i + c] * 255);
    data.data[4 * i + 3] = 255;
  }
  sctx.putImageData(data, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, x, y, w, h);
}

function marker(ctx, [x, y], style, size = 5) {
  ctx.fillStyle = style.colour;
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (style.shape === "circle") ctx.arc(x * SCALE, y * SCALE, size, 0, 2 * Math.PI);
  else ctx.rect(x * SCALE - size, y * SCALE - size, 2 * size, 2 * size);
  ctx.fill();
  ctx.stroke();
}

function draw() {
  const ctx = $("figure").getContext("2d");
  imageToCanvas(state.image, ctx, 0, 0, 384, 384);
  // The true joints first: thin handles to drag (not shown for a camera frame, which has no truth).
  if (state.source === "figure") {
    state.joints.forEach(([x, y], j) => {
      ctx.beginPath();
      if (state.occluder && state.occluder.hidden[j]) {     // hidden joint: a cross, as pose.draw_pose
        ctx.moveTo(x * SCALE - 5, y * SCALE - 5); ctx.lineTo(x * SCALE + 5, y * SCALE + 5);
        ctx.moveTo(x * SCALE + 5, y * SCALE - 5); ctx.lineTo(x * SCALE - 5, y * SCALE + 5);
      }
      const radius = j === state.heatJoint ? 9 : 7;
      ctx.moveTo(x * SCALE + radius, y * SCALE);
      ctx.arc(x * SCALE, y * SCALE, radius, 0, 2 * Math.PI);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.lineWidth = j === state.heatJoint ? 2.5 : 1.5;
      ctx.stroke();
    });
  }
  // Then each model's predicted skeleton: fp32 solid with large circles, int8 dashed with small squares
  // on top, so both stay visible where they agree.
  for (const mode of ["float32", "int8"]) {
    const pred = state.predictions[mode];
    if (!pred) continue;
    const style = MODEL_STYLE[mode];
    ctx.strokeStyle = style.colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(mode === "int8" ? [5, 4] : []);
    for (const [a, b] of LIMBS) {
      ctx.beginPath();
      ctx.moveTo(pred.coords[a][0] * SCALE, pred.coords[a][1] * SCALE);
      ctx.lineTo(pred.coords[b][0] * SCALE, pred.coords[b][1] * SCALE);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    pred.coords.forEach((p) => marker(ctx, p, style, mode === "int8" ? 3 : 6));
  }
  drawHeatmaps();
  drawTable();
}

// A perceptual dark-to-bright colour map (magma-like), value in [0, 1].
const MAGMA = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
  [252, 253, 191]];
function colourMap(v) {
  const t = Math.min(1, Math.max(0, v)) * (MAGMA.length - 1);
  const i = Math.min(MAGMA.length - 2, Math.floor(t)), f = t - i;
  return MAGMA[i].map((c, k) => Math.round(c + f * (MAGMA[i + 1][k] - c)));
}

function drawHeatmaps() {
  for (const mode of ["float32", "int8"]) {
    const canvas = $(`heat-${mode}`);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    imageToCanvas(state.image, ctx, 0, 0, canvas.width, canvas.height);
    const pred = state.predictions[mode];
    if (!pred) {
      ctx.fillStyle = "rgba(0,0,0,0.7)";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = "#fff";
      ctx.font = "14px sans-serif";
      ctx.fillText("model not loaded", 40, 100);
      continue;
    }
    const j = state.heatJoint;
    let vmax = 1e-6;
    for (let i = 0; i < 256; i++) vmax = Math.max(vmax, pred.maps[i * 16 + j]);
    const cell = canvas.width / 16;
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const [r, g, b] = colourMap(pred.maps[(y * 16 + x) * 16 + j] / vmax);
        ctx.fillStyle = `rgba(${r},${g},${b},0.65)`;
        ctx.fillRect(x * cell, y * cell, cell, cell);
      }
    }
    const [px, py] = pred.coords[j];
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    const s = canvas.width / SIZE;
    ctx.beginPath();
    ctx.moveTo(px * s - 7, py * s); ctx.lineTo(px * s + 7, py * s);
    ctx.moveTo(px * s, py * s - 7); ctx.lineTo(px * s, py * s + 7);
    ctx.stroke();
  }
}

function errors(mode) {
  const pred = state.predictions[mode];
  if (!pred || state.source !== "figure") return null;
  // Like the course's PCK: only visible joints count (a joint under the occluder has no evidence in the image).
  const hidden = state.occluder ? state.occluder.hidden : state.joints.map(() => false);
  const dist = pred.coords.map(([x, y], j) => Math.hypot(x - state.joints[j][0], y - state.joints[j][1]))
    .filter((_, j) => !hidden[j]);
  const limit = 0.2 * bboxSize(state.joints);
  return { mean: dist.reduce((a, b) => a + b, 0) / Math.max(dist.length, 1), visible: dist.length,
    within: dist.filter((d) => d <= limit).length };
}

function drawTable() {
  const rows = [];
  for (const mode of ["float32", "int8"]) {
    const m = state.models[mode];
    if (!m) continue;
    const err = errors(mode);
    rows.push(`<tr data-mode="${mode}"><td>${m.label}</td><td>${(m.size / 1000).toFixed(0)} kB</td>`
      + `<td class="ms">${fmtMs(m.latency)}</td>`
      + `<td class="px">${err ? `${err.mean.toFixed(2)} px` : "–"}</td>`
      + `<td>${err ? `${err.within} / ${err.visible}` : "–"}</td><td>${fmtPct(m.pck && m.pck["PCK@0.2"])}</td></tr>`);
  }
  $("results").tBodies[0].innerHTML = rows.join("") || '<tr><td colspan="6">no model loaded</td></tr>';
}

function showLatency(repeats) {
  const parts = Object.values(state.models).map((m) => `${m.label} ${fmtMs(m.latency)}`);
  const timer = window.crossOriginIsolated ? "fine timer (cross-origin isolated)"
    : "coarse timer: this server does not send the COOP/COEP headers, so the browser rounds times";
  $("latency").textContent = parts.length
    ? `Latency in this browser: ${parts.join(" · ")} (median of ${repeats} calls after ${WARMUP} warm-up calls, `
      + `1 thread, WebAssembly; ${timer}).`
    : "Latency: no model loaded.";
}

// ------------------------------------------------------------------ interaction
function update({ rerender = true } = {}) {
  state.occluder = $("occluder").checked ? occluder(state.joints, state.seed) : null;
  if (rerender) state.image = render(state.joints, state.seed, state.occluder);
  if (Object.keys(state.models).length) predict(); else draw();
}

function setPose(angles) {
  state.angles = angles;
  state.joints = poseFromAngles(angles);
  syncSliders();
  update();
}

function canvasPoint(event) {
  const rect = $("figure").getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width * SIZE, (event.clientY - rect.top) / rect.height * SIZE];
}

function setupDragging() {
  const canvas = $("figure");
  let dragged = -1;
  canvas.addEventListener("pointerdown", (event) => {
    if (state.source !== "figure") return;
    const [x, y] = canvasPoint(event);
    let best = -1, bestDist = 3.0;      // image pixels (18 screen pixels at full size)
    state.joints.forEach(([jx, jy], j) => {
      const d = Math.hypot(jx - x, jy - y);
      if (d < bestDist) { best = j; bestDist = d; }
    });
    if (best < 0) return;
    dragged = best;
    state.heatJoint = best;
    $("joint").value = String(best);
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add("dragging");
    draw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (dragged < 0) return;
    const [x, y] = canvasPoint(event);
    state.joints[dragged] = [Math.min(SIZE - 0.5, Math.max(0.5, x)), Math.min(SIZE - 0.5, Math.max(0.5, y))];
    update();
  });
  const stop = () => { dragged = -1; canvas.classList.remove("dragging"); };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
}

const SLIDERS = [["lean", -0.5, 0.5], ["r_arm", -0.3, 2.9], ["r_elbow", -0.4, 2.2], ["l_arm", -0.3, 2.9],
  ["l_elbow", -0.4, 2.2], ["r_thigh", -0.35, 0.9], ["r_knee", -0.1, 1.2], ["l_thigh", -0.35, 0.9],
  ["l_knee", -0.1, 1.2], ["head", -0.5, 0.5], ["rotation", -0.6, 0.6]];

function setupSliders() {
  const box = $("sliders");
  for (const [name, lo, hi] of SLIDERS) {
    const label = document.createElement("label");
    label.innerHTML = `<span>${name}</span><input type="range" min="${lo}" max="${hi}" step="0.05" name="${name}">`
      + "<output></output>";
    box.appendChild(label);
    label.querySelector("input").addEventListener("input", (e) => {
      setPose({ ...state.angles, [name]: Number(e.target.value) });
    });
  }
  syncSliders();
}

function syncSliders() {
  const defaults = { lean: 0, head: 0, r_thigh: 0.2, r_knee: 0.3, l_thigh: 0.2, l_knee: 0.3, r_arm: 0.5,
    r_elbow: 0.5, l_arm: 0.5, l_elbow: 0.5, rotation: 0 };
  for (const input of $("sliders").querySelectorAll("input")) {
    const v = state.angles[input.name] ?? defaults[input.name];
    input.value = String(v);
    input.nextElementSibling.textContent = Number(v).toFixed(2);
  }
}

function setupControls() {
  const select = $("joint");
  JOINTS.forEach((name, j) => select.add(new Option(name, String(j))));
  select.value = String(state.heatJoint);
  select.addEventListener("change", () => { state.heatJoint = Number(select.value); draw(); });
  $("random").addEventListener("click", () => {
    state.seed += 1;
    setPose(randomAngles(rng(state.seed * 7919)));
  });
  $("background").addEventListener("click", () => { state.seed += 1; update(); });
  $("occluder").addEventListener("change", () => update());
  $("reset").addEventListener("click", () => { state.seed = 1; setPose({ ...DEFAULT_ANGLES }); });
  $("measure").addEventListener("click", () => measureLatency());
  $("camera").addEventListener("click", () => (state.camera.stream ? stopCamera() : startCamera()));
  setupDragging();
  setupSliders();
}

async function measureLatency() {
  if (!Object.keys(state.models).length) return;
  $("latency").textContent = "Latency: measuring…";
  if (busy) await new Promise((r) => setTimeout(r, 50));
  try {
    await benchmark(REPEATS);
  } catch (e) {
    error(`Measuring the latency failed: ${e.message || e}`);
  }
  draw();
}

// ------------------------------------------------------------------ camera
function cameraMessage(text) { state.camera.status = text; $("camera-status").textContent = text; }

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    cameraMessage("");
    error("No camera here: this browser offers no camera access to this page (getUserMedia needs https or "
      + "localhost, and a browser that supports it). The posed figure still works.");
    return;
  }
  cameraMessage("Asking for the camera…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
  } catch (e) {
    const why = e.name === "NotAllowedError" || e.name === "SecurityError"
      ? "camera permission was denied (allow it in the address bar's site settings, then press the button again)"
      : e.name === "NotFoundError" || e.name === "OverconstrainedError" ? "no camera was found"
        : `the camera could not start (${e.name}: ${e.message})`;
    cameraMessage("");
    error(`Camera unavailable: ${why}. The posed figure still works.`);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play().catch(() => {});
  state.camera.stream = stream;
  state.source = "camera";
  $("camera").textContent = "Stop the camera";
  cameraMessage(`Camera on (${video.videoWidth}×${video.videoHeight}): the centre square, scaled to 64×64, is what `
    + "the models see. They were trained on synthetic figures: this is a stress test.");
  requestAnimationFrame(cameraFrame);
}

function stopCamera() {
  for (const track of state.camera.stream.getTracks()) track.stop();
  state.camera.stream = null;
  state.source = "figure";
  $("camera").textContent = "Use the camera";
  cameraMessage("Camera off.");
  update();
}

const grab = document.createElement("canvas");
grab.width = grab.height = SIZE;

async function cameraFrame() {
  if (!state.camera.stream) return;
  const video = $("video");
  if (video.readyState >= 2 && !busy) {
    const side = Math.min(video.videoWidth, video.videoHeight);
    const ctx = grab.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, SIZE, SIZE);
    const rgba = ctx.getImageData(0, 0, SIZE, SIZE).data;
    const img = new Float32Array(SIZE * SIZE * 3);
    for (let i = 0; i < SIZE * SIZE; i++) for (let c = 0; c < 3; c++) img[3 * i + c] = rgba[4 * i + c] / 255;
    state.image = img;
    state.camera.frames += 1;
    if (Object.keys(state.models).length) await predict(); else draw();
  }
  requestAnimationFrame(cameraFrame);
}

// ------------------------------------------------------------------ start
async function main() {
  status("Loading LiteRT.js and the models…");
  setupControls();
  state.image = render(state.joints, state.seed);
  draw();
  try {
    await loadRuntime();
    await loadModels();
  } catch (e) {
    error(e.message || String(e));
  }
  const loaded = Object.values(state.models);
  if (loaded.length) await predict(); else draw();
  state.readyMs = performance.now();     // the visitor sees both models' predictions from here on
  status(loaded.length
    ? `Ready in ${(state.readyMs / 1000).toFixed(2)} s: ${loaded.map((m) => m.label).join(" and ")} loaded. `
      + "Drag a joint, or press Random pose."
    : "The models could not be loaded (see the message above); you can still pose the figure.");
  if (loaded.length) await measureLatency(); else showLatency(REPEATS);
}

// Hooks for the tests and for the curious (browser console).
window.demo = {
  state,
  run: (mode, input) => runModel(mode, input instanceof Float32Array ? input : Float32Array.from(input)),
  benchmark,
  callOverhead,
  decode,
  render,
  jointClientXY(j) {
    const rect = $("figure").getBoundingClientRect();
    const [x, y] = state.joints[j];
    return [rect.left + (x / SIZE) * rect.width, rect.top + (y / SIZE) * rect.height];
  },
  busy: () => busy || pending,
  predictionsOf: (mode) => state.predictions[mode] && state.predictions[mode].coords,
  ready: null,
};
window.demo.ready = main()
  .catch((e) => error(`The demo stopped: ${e.message || e}`))
  .finally(() => { document.body.dataset.ready = "true"; });
