"""GLSL sources of the head renderer (:mod:`.render`): the per-pixel shaded head (vertex and
fragment shader, conventions in :mod:`.render`'s docstring) and the two compute shaders of the
GPU geometry path (blendshape sum, vertex normals)."""

HEAD_VS = """
#version 330
uniform mat3 u_R;
uniform vec3 u_T;
uniform mat4 u_P;
in vec3 in_pos; in vec3 in_nrm; in float in_hair;
in vec3 in_ref; in float in_region; in float in_lip; in float in_brow; in float in_eye;
in float in_beard; in float in_cav; in float in_lash;
out vec3 v_cam; out vec3 v_nrm; out vec3 v_ref; flat out int v_region;
out float v_lip; out float v_brow; out float v_eye; out float v_beard; out float v_cav;
out float v_lash;
out float v_hair;
void main() {
    vec3 pc = u_R * in_pos + u_T;
    v_cam = pc; v_nrm = u_R * in_nrm; v_ref = in_ref;
    v_region = int(in_region + 0.5);
    v_lip = in_lip; v_brow = in_brow; v_eye = in_eye; v_beard = in_beard; v_cav = in_cav;
    v_lash = in_lash;
    v_hair = in_hair;
    gl_Position = u_P * vec4(pc, 1.0);
}
"""

HEAD_FS = """
#version 330
uniform vec3 u_skin; uniform vec3 u_lip; uniform vec3 u_hair; uniform vec3 u_brow;
uniform vec3 u_iris; uniform vec3 u_hat; uniform vec3 u_seed; uniform vec3 u_cloth;
uniform float u_cloth_pat;
uniform float u_brow_w; uniform float u_brow_d; uniform float u_beard; uniform float u_beard_off;
uniform float u_blush; uniform float u_freckle; uniform float u_skin_var; uniform float u_spec;
uniform float u_shine; uniform float u_hair_noise; uniform float u_hat_on;
uniform float u_iris_ang; uniform float u_pupil_ang; uniform float u_lash;
uniform vec3 u_ldir; uniform vec3 u_lcol; uniform vec3 u_sky; uniform vec3 u_ground;
uniform vec3 u_rdir; uniform vec3 u_rcol; uniform float u_exposure;
uniform sampler3D u_noise;
in vec3 v_cam; in vec3 v_nrm; in vec3 v_ref; flat in int v_region;
in float v_lip; in float v_brow; in float v_eye; in float v_beard; in float v_cav; in float v_hair;
in float v_lash;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;

// value noise in [0, 1]: trilinear lookup of a tiling 32^3 random texture (cheap on llvmpipe)
float vnoise(vec3 x) { return texture(u_noise, x * (1.0 / 32.0)).r; }
vec3 lin(vec3 c) { return pow(max(c, vec3(0.0)), vec3(2.2)); }
// noise of frequency f (1/m) seen with a pixel footprint px (m): fade to its mean when unresolved
float aa(float n, float f, float px) { return mix(0.5, n, clamp(1.5 - f * px * 1.5, 0.0, 1.0)); }

void main() {
    vec3 r = v_ref;
    vec3 s = u_seed;
    // pixel footprint on the surface (m): fade out noise finer than ~2 pixels (anti-aliasing)
    float px = max(length(fwidth(r)), 1e-5);
    float n_lo = vnoise(r * 30.0 + s);
    float n_mid = vnoise(r * 160.0 + s);
    float n_hi = aa(vnoise(r * 700.0 + s), 700.0, px);
    float spec_k = u_spec * (0.6 + 0.8 * vnoise(r * 60.0 + s + 3.0));
    float shine = u_shine;
    vec3 alb = u_skin * (1.0 + u_skin_var * (0.16 * (n_lo - 0.5) + 0.08 * (n_mid - 0.5)
                                              + 0.06 * (n_hi - 0.5)));
    // redness on cheeks and nose
    vec2 q = vec2(abs(r.x) - 0.042, r.y - 0.012);
    float cheek = exp(-dot(q, q) / (0.022 * 0.022));
    vec2 qn = vec2(r.x, r.y + 0.0);
    float nose = exp(-dot(qn, qn) / (0.012 * 0.012)) * step(r.z, -0.06);
    alb = mix(alb, alb * vec3(1.06, 0.78, 0.78), clamp(u_blush * (cheek + 0.6 * nose), 0.0, 1.0));
    // freckles
    if (u_freckle > 0.0) {
        float fr = smoothstep(0.72, 0.82, aa(vnoise(r * 500.0 + s + 7.0), 500.0, px)) * u_freckle;
        alb *= 1.0 - fr * vec3(0.25, 0.35, 0.4);
    }
    // lips
    float lip = smoothstep(-0.0007, 0.0009, v_lip + (n_mid - 0.5) * 0.0008);
    alb = mix(alb, u_lip * (0.9 + 0.2 * n_mid), lip);
    spec_k *= 1.0 + 0.8 * lip;
    // beard / stubble: coverage = density, hair dots only where they can be resolved
    float bz = u_beard * smoothstep(-0.003, 0.006, v_beard + u_beard_off + (n_mid - 0.5) * 0.01);
    if (bz > 0.0) {
        float dots = aa(vnoise(r * 1500.0 + s), 1500.0, px);
        alb = mix(alb, u_hair * 0.8, clamp(bz * (0.55 + 0.9 * (dots - 0.5)), 0.0, 1.0));
    }
    // eyebrows: strands along x
    float bw = u_brow_w * (0.8 + 0.4 * n_mid);
    float brow = (1.0 - smoothstep(bw * 0.55, bw, v_brow)) * u_brow_d;
    if (brow > 0.0) {
        float strands = aa(vnoise(vec3(r.x * 900.0, r.y * 3000.0, r.z * 900.0) + s), 3000.0, px);
        alb = mix(alb, u_brow, clamp(brow * (0.45 + 0.7 * strands), 0.0, 1.0));
    }
    // lash line / eyelid margin: a dark band just outside the eye opening, darker above
    // (inside the landmark polygon = lid margin; the eyeball itself is shaded below)
    float band = smoothstep(-0.0026, -0.0006, v_lash);
    float upper = 0.5 + 0.5 * step(0.0, -r.y - 0.026);
    alb *= 1.0 - u_lash * upper * band * vec3(0.85, 0.88, 0.9);
    // hair cap (strands along y) or hat
    if (v_hair > -0.01) {
        float edge = (vnoise(r * 120.0 + s) - 0.5) * u_hair_noise
                   + (aa(vnoise(r * 700.0 + s), 700.0, px) - 0.5) * u_hair_noise * 0.6;
        float hm;
        vec3 hc;
        if (u_hat_on > 0.5) {
            hm = smoothstep(-0.0005, 0.0005, v_hair);
            hc = u_hat * (0.85 + 0.3 * n_mid) * (0.9 + 0.2 * aa(vnoise(r * 3000.0), 3000.0, px));
        } else {
            hm = smoothstep(-0.0015, 0.0025, v_hair + edge);
            float st = aa(vnoise(vec3(r.x * 1800.0, r.y * 120.0, r.z * 1800.0) + s), 1800.0, px);
            hc = u_hair * (0.55 + 0.9 * st);
        }
        alb = mix(alb, hc, hm);
        spec_k = mix(spec_k, 0.12 * (1.0 - u_hat_on), hm);
        shine = mix(shine, 10.0, hm);
    }
    // other regions
    if (v_region == 2) { alb = vec3(0.42, 0.13, 0.13); }
    else if (v_region == 5) { alb = vec3(0.72, 0.33, 0.36) * (0.9 + 0.2 * n_mid); }
    else if (v_region == 6) { alb = vec3(0.88, 0.84, 0.74) * (0.95 + 0.1 * n_hi); spec_k = 0.3; }
    else if (v_region == 3 || v_region == 4) { alb = vec3(0.62, 0.36, 0.34); spec_k = 0.5; }
    else if (v_region == 7 || v_region == 8) {
        float a = v_eye;
        vec3 sclera = vec3(0.86, 0.82, 0.78) * (0.92 + 0.1 * n_mid);
        sclera = mix(sclera, vec3(0.8, 0.45, 0.42), 0.25 * smoothstep(0.9, 1.3, a));
        float fib = aa(vnoise(r * 3000.0 + s), 3000.0, px) * 0.6
                  + aa(vnoise(r * 800.0 + s), 800.0, px) * 0.4;
        vec3 iris = u_iris * (0.55 + 0.8 * fib);
        iris = mix(iris, u_iris * 0.35, smoothstep(u_iris_ang * 0.75, u_iris_ang, a));
        alb = mix(iris, sclera, smoothstep(u_iris_ang - 0.02, u_iris_ang + 0.02, a));
        alb = mix(vec3(0.015), alb, smoothstep(u_pupil_ang - 0.02, u_pupil_ang + 0.02, a));
        spec_k = 1.2; shine = 90.0;
    }
    else if (v_region == 10) {
        float st = aa(vnoise(vec3(r.x * 1800.0, r.y * 100.0, r.z * 1800.0) + s), 1800.0, px);
        alb = u_hair * (0.5 + 0.9 * st) * (0.85 + 0.3 * n_mid);
        spec_k = 0.12; shine = 10.0;
    }
    else if (v_region == 9) {
        float stripe = u_cloth_pat > 0.0 ? step(0.5, fract(r.y * u_cloth_pat)) : 0.0;
        alb = u_cloth * (0.85 + 0.3 * aa(vnoise(r * 900.0 + s), 900.0, px)) * (1.0 - 0.35 * stripe);
        alb *= 0.8 + 0.2 * smoothstep(0.13, 0.16, r.y);
        spec_k = 0.03; shine = 8.0;
    }
    vec3 albl = lin(clamp(alb, 0.0, 1.0));

    vec3 N = normalize(v_nrm);
    vec3 V = normalize(-v_cam);
    if (dot(N, V) < 0.0 && v_region >= 2) { N = -N; }
    vec3 L = normalize(u_ldir);
    float ndl = dot(N, L);
    float wrap = 0.25;
    float diff = max((ndl + wrap) / (1.0 + wrap), 0.0);
    // light bleeding through skin near the terminator (cheap subsurface tint)
    vec3 sss = (v_region <= 1) ? vec3(0.22, 0.06, 0.03) * clamp(1.0 - abs(ndl) * 2.5, 0.0, 1.0)
                               : vec3(0.0);
    vec3 H = normalize(L + V);
    float spec = pow(max(dot(N, H), 0.0), shine) * spec_k * step(0.0, ndl);
    float hemi = 0.5 - 0.5 * N.y;
    vec3 amb = mix(u_ground, u_sky, hemi) * v_cav;
    float fres = pow(1.0 - max(dot(N, V), 0.0), 4.0);
    float rim = max(dot(N, normalize(u_rdir)), 0.0);
    vec3 col = albl * (amb + u_lcol * (diff + sss) * mix(1.0, v_cav, 0.5) + u_rcol * rim)
             + (u_lcol * spec + u_sky * fres * 0.15) * mix(1.0, v_cav, 0.7);
    col *= u_exposure;
    col = col / (1.0 + 0.15 * col);
    f_color = vec4(pow(clamp(col, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
    f_depth = v_cam.z;
}
"""


BLEND_CS = """
#version 430
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Basis { float basis[]; };    // (K, V, 3)
layout(std430, binding = 1) readonly buffer Neutral { float neutral[]; }; // (V, 3)
layout(std430, binding = 2) readonly buffer Coef { float coef[]; };       // (K,)
// Info (V, 5): region, neck flag, neutral normal xyz
layout(std430, binding = 3) readonly buffer Info { float info[]; };
layout(std430, binding = 4) buffer Out { float outv[]; };                 // (V_all, 7)
uniform int u_nv;
uniform int u_k;
uniform mat3 u_eye_rot;
uniform vec3 u_eye_c0;
uniform vec3 u_eye_c1;
uniform float u_scale;
uniform vec4 u_hair;      // front_y, back_y, recess, bald
uniform float u_thick;
void main() {
    int i = int(gl_GlobalInvocationID.x);
    if (i >= u_nv) return;
    vec3 n0p = vec3(neutral[3 * i], neutral[3 * i + 1], neutral[3 * i + 2]);
    vec3 p = n0p;
    for (int k = 0; k < u_k; ++k) {
        float c = coef[k];
        if (c != 0.0) {
            int o = (k * u_nv + i) * 3;
            p += c * vec3(basis[o], basis[o + 1], basis[o + 2]);
        }
    }
    int region = int(info[5 * i] + 0.5);
    if (region == 7) p = u_eye_rot * (p - u_eye_c0) + u_eye_c0;
    if (region == 8) p = u_eye_rot * (p - u_eye_c1) + u_eye_c1;
    if (info[5 * i + 1] > 0.5) {  // neck narrowing (HeadModel._narrow_neck)
        float t = clamp((p.y - 0.095) / 0.03, 0.0, 1.0);
        float dn = length(vec2(p.x / 0.056, (p.z - 0.05) / 0.064));
        float kk = min(1.0, 1.0 / max(dn, 1e-6));
        float f = (1.0 - t) + t * kk;
        p.x *= f;
        p.z = 0.05 + (p.z - 0.05) * f;
    }
    p *= u_scale;
    // hair field from the neutral position (HeadModel.hair_field)
    float hf = -1.0;
    if (region == 0 || region == 1) {
        float z01 = clamp((n0p.z + 0.06) / 0.18, 0.0, 1.0);
        float yl = u_hair.x + (u_hair.y - u_hair.x) * pow(z01, 1.5);
        yl += u_hair.z * (n0p.x / 0.05) * (n0p.x / 0.05) * (1.0 - z01);
        hf = yl - n0p.y;
        if (u_hair.w > 0.0 && n0p.y < -0.09) {
            float crown = length(vec2(n0p.x, n0p.z - 0.03));
            if (crown < u_hair.w) hf = min(hf, crown - u_hair.w);
        }
    }
    if (u_thick > 0.0) {
        float w = pow(clamp(hf / 0.012, 0.0, 1.0), 0.7) * u_thick * u_scale;
        p += vec3(info[5 * i + 2], info[5 * i + 3], info[5 * i + 4]) * w;
    }
    outv[7 * i] = p.x; outv[7 * i + 1] = p.y; outv[7 * i + 2] = p.z;
    outv[7 * i + 6] = hf;
}
"""

NORMALS_CS = """
#version 430
layout(local_size_x = 64) in;
layout(std430, binding = 4) buffer Out { float outv[]; };
layout(std430, binding = 5) readonly buffer AdjPtr { int adj_ptr[]; };
layout(std430, binding = 6) readonly buffer AdjTri { int adj_tri[]; };
layout(std430, binding = 7) readonly buffer Tri { int tri[]; };
uniform int u_nall;
vec3 pos(int v) { return vec3(outv[7 * v], outv[7 * v + 1], outv[7 * v + 2]); }
void main() {
    int i = int(gl_GlobalInvocationID.x);
    if (i >= u_nall) return;
    vec3 n = vec3(0.0);
    for (int j = adj_ptr[i]; j < adj_ptr[i + 1]; ++j) {
        int t = adj_tri[j];
        vec3 a = pos(tri[3 * t]);
        n += cross(pos(tri[3 * t + 1]) - a, pos(tri[3 * t + 2]) - a);
    }
    n /= (length(n) + 1e-12);
    outv[7 * i + 3] = n.x; outv[7 * i + 4] = n.y; outv[7 * i + 5] = n.z;
}
"""
