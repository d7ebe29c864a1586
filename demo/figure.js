// The stick figures of course_lib, in JavaScript: pure functions, no page state.
//
// - poseFromAngles: course_lib.data.pose_from_angles (the kinematic tree; one figure).
// - render: course_lib.data.render_poses for one figure (textured background, clutter strokes, warm right
//   limbs, cool left limbs, green centre line and head, dark joint dots, an optional occluder box, noise and
//   a little blur). The pixels are not Python's (a different random generator), the recipe is.
// - decode: course_lib.pose.decode (argmax + quarter-pixel shift towards the higher neighbour,
//   x = (u + 0.5) * stride), on one NHWC output.

export const JOINTS = [
  "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
  "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
];
export const LIMBS = [
  [0, 1], [1, 2], [2, 6], [3, 6], [3, 4], [4, 5], [6, 7], [7, 8], [8, 9],
  [10, 11], [11, 12], [12, 7], [13, 7], [13, 14], [14, 15],
];
export const LIMB_SIDES = ["r", "r", "r", "l", "l", "l", "c", "c", "c", "r", "r", "r", "l", "l", "l"];
export const PALETTE = { r: [0.95, 0.35, 0.1], l: [0.15, 0.45, 0.95], c: [0.2, 0.85, 0.3] };
export const SIZE = 64;

/** A seeded random generator (mulberry32) with uniform and normal draws. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    random: next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: (mu = 0, sd = 1) => mu + sd * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
    integer: (n) => Math.floor(next() * n),
  };
}

/** Joint positions [[x, y] x 16] in pixels, as course_lib.data.pose_from_angles (angles in radians). */
export function poseFromAngles({ lean = 0, head = 0, r_thigh = 0.2, r_knee = 0.3, l_thigh = 0.2, l_knee = 0.3,
  r_arm = 0.5, r_elbow = 0.5, l_arm = 0.5, l_elbow = 0.5, rotation = 0, height = 42, centre = [32, 32] } = {}) {
  const down = (ang) => [Math.sin(ang), Math.cos(ang)];
  const add = (p, v, f) => [p[0] + f * v[0], p[1] + f * v[1]];
  const j = Array.from({ length: 16 }, () => [0, 0]);
  const d = down(lean);
  const up = [-d[0], -d[1]];
  const side = [up[1], -up[0]];
  const h = height;
  j[7] = add(j[6], up, 0.30 * h);
  j[8] = add(j[7], up, 0.07 * h);
  const dh = down(lean + head);
  j[9] = add(j[8], [-dh[0], -dh[1]], 0.15 * h);
  for (const [hip, knee, ankle, sgn, thigh, bend] of [[2, 1, 0, -1, r_thigh, r_knee], [3, 4, 5, 1, l_thigh, l_knee]]) {
    j[hip] = add(j[6], side, sgn * 0.08 * h);
    const ang = lean + sgn * thigh;
    j[knee] = add(j[hip], down(ang), 0.24 * h);
    j[ankle] = add(j[knee], down(ang - sgn * bend), 0.23 * h);
  }
  const arms = [[12, 11, 10, -1, r_arm, r_elbow], [13, 14, 15, 1, l_arm, l_elbow]];
  for (const [shoulder, elbow, wrist, sgn, arm, bend] of arms) {
    j[shoulder] = add(j[7], side, sgn * 0.11 * h);
    const ang = lean + sgn * arm;
    j[elbow] = add(j[shoulder], down(ang), 0.16 * h);
    j[wrist] = add(j[elbow], down(ang + sgn * bend), 0.15 * h);
  }
  const c = Math.cos(rotation), s = Math.sin(rotation);
  const rot = j.map(([x, y]) => [c * x - s * y, s * x + c * y]);
  const xs = rot.map((p) => p[0]), ys = rot.map((p) => p[1]);
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2, cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  return rot.map(([x, y]) => [x - cx + centre[0], y - cy + centre[1]]);
}

/** A random pose within the training data's limits (course_lib.data._pose_joints). */
export function randomAngles(r) {
  return {
    height: 42 * r.uniform(0.72, 1.08), lean: r.normal(0, 0.15), head: r.normal(0, 0.25),
    r_thigh: r.uniform(-0.35, 0.9), l_thigh: r.uniform(-0.35, 0.9), r_knee: r.uniform(-0.1, 1.2),
    l_knee: r.uniform(-0.1, 1.2), r_arm: r.uniform(-0.3, 2.9), l_arm: r.uniform(-0.3, 2.9),
    r_elbow: r.uniform(-0.4, 2.2), l_elbow: r.uniform(-0.4, 2.2), rotation: r.uniform(-0.6, 0.6),
    centre: [32 + r.normal(0, 4.5), 32 + r.normal(0, 4.5)],
  };
}

function segmentDistance(px, py, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  let t = ((px - a[0]) * dx + (py - a[1]) * dy) / Math.max(dx * dx + dy * dy, 1e-6);
  t = Math.min(1, Math.max(0, t));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

function paint(img, alphaAt, colour, strength = 1) {
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const alpha = strength * alphaAt(x + 0.5, y + 0.5);
      if (alpha <= 0) continue;
      const i = (y * SIZE + x) * 3;
      for (let c = 0; c < 3; c++) img[i + c] += alpha * (colour[c] - img[i + c]);
    }
  }
}

const clip01 = (v) => Math.min(1, Math.max(0, v));

/**
 * An occluder box as course_lib's renderer draws one (in a third of its images): centred near a random joint,
 * 8 to 18 pixels a side. Returns {centre, half, hidden: [bool x 16]} (hidden: the joint is under the box).
 */
export function occluder(joints, seed) {
  const r = rng(seed * 31 + 7);
  const j = joints[r.integer(16)];
  const centre = [j[0] + r.normal(0, 3), j[1] + r.normal(0, 3)];
  const half = [r.uniform(4, 9), r.uniform(4, 9)];
  const colour = [r.uniform(0.1, 0.9), r.uniform(0.1, 0.9), r.uniform(0.1, 0.9)];
  const hidden = joints.map((p) => Math.abs(p[0] - centre[0]) < half[0] && Math.abs(p[1] - centre[1]) < half[1]);
  return { centre, half, colour, hidden, seed };
}

/**
 * One 64x64 RGB image (Float32Array, HWC, values k/255 in [0, 1] as data.load gives) of a stick figure
 * with joints [[x, y] x 16] on a background drawn from `seed` (the same seed gives the same scene),
 * with the `box` of occluder() drawn over it if given.
 */
export function render(joints, seed, box = null) {
  const r = rng(seed);
  let img = new Float32Array(SIZE * SIZE * 3);
  // Background: base colour plus a bilinear 6x6 low-frequency texture.
  const base = [r.uniform(0.15, 0.85), r.uniform(0.15, 0.85), r.uniform(0.15, 0.85)];
  const coarse = Array.from({ length: 6 * 6 * 3 }, () => r.normal());
  const at = (i, j, c) => coarse[(i * 6 + j) * 3 + c];
  for (let y = 0; y < SIZE; y++) {
    const fy = (y * 4.999) / (SIZE - 1), iy = Math.floor(fy), ty = fy - iy;
    for (let x = 0; x < SIZE; x++) {
      const fx = (x * 4.999) / (SIZE - 1), ix = Math.floor(fx), tx = fx - ix;
      for (let c = 0; c < 3; c++) {
        const top = at(iy, ix, c) * (1 - tx) + at(iy, ix + 1, c) * tx;
        const bottom = at(iy + 1, ix, c) * (1 - tx) + at(iy + 1, ix + 1, c) * tx;
        img[(y * SIZE + x) * 3 + c] = base[c] + 0.12 * (top * (1 - ty) + bottom * ty);
      }
    }
  }
  // Clutter: three random strokes, half of them in limb-like colours.
  const palette = Object.values(PALETTE);
  for (let k = 0; k < 3; k++) {
    const a = [r.uniform(-8, SIZE + 8), r.uniform(-8, SIZE + 8)];
    const b = [a[0] + r.normal(0, 12), a[1] + r.normal(0, 12)];
    let colour;
    if (r.random() < 0.5) {
      colour = [r.random(), r.random(), r.random()];
    } else {
      const shade = r.uniform(0.6, 1.0);
      colour = palette[r.integer(3)].map((v) => v * shade);
    }
    const width = r.uniform(0.8, 2.0);
    const shown = r.random() < 0.7 ? r.uniform(0.5, 1.0) : 0;
    if (shown > 0) paint(img, (px, py) => clip01(width - segmentDistance(px, py, a, b)), colour, shown);
  }
  // The figure: limbs in a random depth order, coloured by side.
  const width = r.uniform(1.6, 2.4);
  const jitter = r.uniform(0.75, 1.1);
  const order = LIMBS.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const k = r.integer(i + 1);
    [order[i], order[k]] = [order[k], order[i]];
  }
  for (const limb of order) {
    const [a, b] = LIMBS[limb];
    const colour = PALETTE[LIMB_SIDES[limb]].map((v) => v * jitter);
    paint(img, (px, py) => clip01(width - segmentDistance(px, py, joints[a], joints[b])), colour);
  }
  // Joints as dark dots.
  for (const p of joints) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const alpha = 0.7 * clip01(width * 0.9 + 0.3 - Math.hypot(x + 0.5 - p[0], y + 0.5 - p[1]));
        if (alpha <= 0) continue;
        const i = (y * SIZE + x) * 3;
        for (let c = 0; c < 3; c++) img[i + c] -= alpha * img[i + c] * 0.8;
      }
    }
  }
  // Head: a green disc between the upper neck and the head top.
  const hc = [(joints[8][0] + joints[9][0]) / 2, (joints[8][1] + joints[9][1]) / 2];
  const radius = Math.hypot(joints[9][0] - joints[8][0], joints[9][1] - joints[8][1]) * 0.55;
  paint(img, (px, py) => clip01(radius + 0.5 - Math.hypot(px - hc[0], py - hc[1])), PALETTE.c, 0.8);
  // An occluder: a textured box that hides whatever is under it.
  if (box) {
    const t = rng(box.seed * 31 + 11);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        if (Math.abs(x + 0.5 - box.centre[0]) >= box.half[0] || Math.abs(y + 0.5 - box.centre[1]) >= box.half[1]) continue;
        for (let c = 0; c < 3; c++) img[(y * SIZE + x) * 3 + c] = box.colour[c] + 0.08 * t.normal();
      }
    }
  }
  // A little blur (with wrap-around, as np.roll) and noise; then 8-bit levels, as the stored dataset.
  const noise = r.uniform(0.02, 0.07);
  const out = new Float32Array(img.length);
  const px = (y, x, c) => img[((((y + SIZE) % SIZE) * SIZE) + ((x + SIZE) % SIZE)) * 3 + c];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 0.6 * px(y, x, c) + 0.1 * (px(y - 1, x, c) + px(y + 1, x, c) + px(y, x - 1, c) + px(y, x + 1, c))
          + noise * r.normal();
        out[(y * SIZE + x) * 3 + c] = Math.round(clip01(v) * 255) / 255;
      }
    }
  }
  img = out;
  return img;
}

/**
 * Joint positions from one output (Float32Array, NHWC with N = 1: [h][w][j]) as course_lib.pose.decode:
 * returns {coords: [[x, y] x j], peaks: [j]} in image pixels.
 */
export function decode(maps, h = 16, w = 16, j = 16, stride = 4) {
  const value = (y, x, k) => (y >= 0 && y < h && x >= 0 && x < w ? maps[(y * w + x) * j + k] : -Infinity);
  const sign = (v) => (Number.isNaN(v) ? 0 : Math.sign(v));
  const coords = [], peaks = [];
  for (let k = 0; k < j; k++) {
    let best = -Infinity, by = 0, bx = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = maps[(y * w + x) * j + k];
        if (v > best) { best = v; by = y; bx = x; }
      }
    }
    const dx = 0.25 * sign(value(by, bx + 1, k) - value(by, bx - 1, k));
    const dy = 0.25 * sign(value(by + 1, bx, k) - value(by - 1, bx, k));
    coords.push([(bx + dx + 0.5) * stride, (by + dy + 0.5) * stride]);
    peaks.push(best);
  }
  return { coords, peaks };
}

/** The longer side of the joints' bounding box (course_lib.pose.bbox_size, PCK's normaliser). */
export function bboxSize(joints) {
  const xs = joints.map((p) => p[0]), ys = joints.map((p) => p[1]);
  return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
}
