/* The tabu search's step, compiled: the same move choice, move, re-timing and tabu list as the Python step
 * (tabu_steps.py, PyStepper), run for a block of steps between two returns to Python.
 *
 * Everything lives in flat int arrays that Python allocates (tabu_steps.py, CStepper); this file only reads and
 * writes them. One call runs up to n steps and returns early on a new best makespan, on a stall longer than the
 * stall limit, when no move exists, or (it cannot happen by construction) when a move closes a cycle, so Python
 * keeps the deadline, the exchange inbox, on_improve, stop events, restarts and the elite pool.
 *
 * Layout (n operations, m machines):
 *   alt_start[n+1], alt_mach[], alt_dur[]   each operation's (machine, duration) alternatives, in problem order
 *   pred_start[n+1], pred[], succ_start[n+1], succ[]   the precedence DAG (a chain is a DAG of one pred each)
 *   release[n]
 *   assign[n], dur[n], pos[n]               each operation's machine, duration there, index in its machine order
 *   seq[m*n], mlen[m]                       machine k's order is seq[k*n .. k*n+mlen[k]-1]
 *   mprev[n], mnext[n]                      neighbours on the machine (-1: none)
 *   r[n], t[n]                              heads (earliest start) and tails (longest path to the end, own
 *                                           duration included)
 *   scratch[2n + 2mn]                       in-degrees and the topological order of the sweep; per machine
 *                                           (seq's layout) its operations' ends and tails, filled per step
 *   run_assign[n], run_start[n], run_end[n] the best plan of the current run (for the elite pool)
 *   tabu_key[cap], tabu_exp[cap] (int64)    open addressing, key -1 = never used; an entry whose expiry is not
 *                                           after the current step is dead and behaves as absent
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DONE = 0, IMPROVED = 1, STALLED = 2, NOMOVE = 3, CYCLE = 4 };

typedef struct {
    int n, m;
    const int *alt_start, *alt_mach, *alt_dur;
    const int *pred_start, *pred, *succ_start, *succ, *release;
    int *assign, *dur, *pos, *seq, *mlen, *mprev, *mnext, *r, *t, *scratch, *mend, *mtail;
    int *run_assign, *run_start, *run_end;
    int64_t *tabu_key, *tabu_exp, *tabu_used;
    Py_ssize_t tabu_cap;
    int64_t cmax;
} Shop;

/* The seed-dependent hash the Python step uses too (tabu_steps.mix): salts and tabu tenures per step. */
static uint32_t mix(uint32_t key, uint32_t it)
{
    uint32_t x = key ^ (it * 0x9E3779B1u);
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

/* ---- tabu list: (operation, machine, machine predecessor) -> step until which the move back is tabu ---- */

static int64_t tabu_pack(const Shop *s, int v, int k, int u)
{
    return ((int64_t)v * s->m + k) * (int64_t)(s->n + 1) + (u + 1);
}

static Py_ssize_t tabu_slot(const Shop *s, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (Py_ssize_t)((h >> 20) & (uint64_t)(s->tabu_cap - 1));
}

static int64_t tabu_get(const Shop *s, int v, int k, int u)
{
    int64_t key = tabu_pack(s, v, k, u);
    for (Py_ssize_t i = tabu_slot(s, key);; i = (i + 1) & (s->tabu_cap - 1)) {
        if (s->tabu_key[i] == key)
            return s->tabu_exp[i];
        if (s->tabu_key[i] == -1)
            return 0;
    }
}

static void tabu_insert(Shop *s, int64_t key, int64_t exp)
{
    Py_ssize_t i = tabu_slot(s, key);
    while (s->tabu_key[i] != -1 && s->tabu_key[i] != key)
        i = (i + 1) & (s->tabu_cap - 1);
    if (s->tabu_key[i] == -1)
        (*s->tabu_used)++;
    s->tabu_key[i] = key;
    s->tabu_exp[i] = exp;
}

/* Drop the dead entries (expiry <= it) when half the table is used: at most tmax + 1 entries are alive. */
static int tabu_compact(Shop *s, int64_t it)
{
    Py_ssize_t cap = s->tabu_cap, live = 0;
    int64_t *keep = malloc(sizeof(int64_t) * 2 * (size_t)cap);
    if (keep == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < cap; i++) {
        if (s->tabu_key[i] != -1 && s->tabu_exp[i] > it) {
            keep[2 * live] = s->tabu_key[i];
            keep[2 * live + 1] = s->tabu_exp[i];
            live++;
        }
        s->tabu_key[i] = -1;
    }
    *s->tabu_used = 0;
    for (Py_ssize_t j = 0; j < live; j++)
        tabu_insert(s, keep[2 * j], keep[2 * j + 1]);
    free(keep);
    return 0;
}

static int tabu_put(Shop *s, int v, int k, int u, int64_t exp, int64_t it)
{
    if (*s->tabu_used * 2 >= s->tabu_cap && tabu_compact(s, it) < 0)
        return -1;
    tabu_insert(s, tabu_pack(s, v, k, u), exp);
    return 0;
}

/* ---- choosing the move (tabu.py's former _choose, now tabu_steps.choose) ---- */

typedef struct {
    int64_t est;
    int tie, v, k, i;
} Move;

static int move_less(const Move *a, const Move *b)
{
    if (a->est != b->est) return a->est < b->est;
    if (a->tie != b->tie) return a->tie < b->tie;
    if (a->v != b->v) return a->v < b->v;
    if (a->k != b->k) return a->k < b->k;
    return a->i < b->i;
}

/* Machine k's order without the operation at index skip (-1: nothing skipped): its j-th operation. */
static inline int at(const int *q, int skip, int j)
{
    return (skip >= 0 && j >= skip) ? q[j + 1] : q[j];
}

/* Per machine, its operations' ends and tails in its order (contiguous, for the bisections and estimates). */
static void fill_machine_times(Shop *s)
{
    for (int k = 0; k < s->m; k++) {
        const int *q = s->seq + (size_t)k * s->n;
        int *e = s->mend + (size_t)k * s->n, *tl = s->mtail + (size_t)k * s->n;
        for (int j = 0; j < s->mlen[k]; j++) {
            e[j] = s->r[q[j]] + s->dur[q[j]];
            tl[j] = s->t[q[j]];
        }
    }
}

/* The positions of v on machine k that cannot close a cycle, [lo, hi] in k's order without v (skip: v's own
 * index there, -1 when v is on another machine; ns: that order's length). lo: the first operation ending after
 * v's job head (the ones before may be v's predecessors); hi: the first whose tail fits in v's job tail (the ones
 * from there may be its successors). The same bisections as Python's bisect_right and bisect_left. */
static void bounds(const Shop *s, int v, int k, int64_t rj, int64_t tj, int *lo_out, int *hi_out, int *skip_out,
                   int *ns_out)
{
    const int *e = s->mend + (size_t)k * s->n, *tl = s->mtail + (size_t)k * s->n;
    int skip = k == s->assign[v] ? s->pos[v] : -1;
    int ns = s->mlen[k] - (skip >= 0);
    int lo = 0, hi = ns;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (at(e, skip, mid) <= rj) lo = mid + 1; else hi = mid;
    }
    int lo2 = 0, hi2 = ns;
    while (lo2 < hi2) {
        int mid = (lo2 + hi2) / 2;
        if (at(tl, skip, mid) > tj) lo2 = mid + 1; else hi2 = mid;
    }
    *lo_out = lo;
    *hi_out = lo2;
    *skip_out = skip;
    *ns_out = ns;
}

/* v's job window: the latest end of its job predecessors (or its release) and the longest tail of its job
 * successors. */
static inline void job_window(const Shop *s, int v, int64_t *rj, int64_t *tj)
{
    int64_t head = s->release[v], tail = 0;
    for (int a = s->pred_start[v]; a < s->pred_start[v + 1]; a++) {
        int64_t e = (int64_t)s->r[s->pred[a]] + s->dur[s->pred[a]];
        if (e > head) head = e;
    }
    for (int a = s->succ_start[v]; a < s->succ_start[v + 1]; a++)
        if (s->t[s->succ[a]] > tail) tail = s->t[s->succ[a]];
    *rj = head;
    *tj = tail;
}

/* The best allowed move (lowest estimate, then tie hash, v, machine, index; a tabu move is allowed when its
 * estimate beats the best makespan), else the best move of all. Returns 0 when there is no move at all. */
static int choose(Shop *s, uint32_t salt, int64_t it, int64_t best_c, int64_t slack, Move *out)
{
    const int *r = s->r, *t = s->t;
    const int64_t big = (int64_t)1 << 62, cmax = s->cmax;
    Move b = {big, 0, 0, 0, 0}, f = {big, 0, 0, 0, 0};
    int b_ok = 0, f_ok = 0;
    fill_machine_times(s);
    for (int v = 0; v < s->n; v++) {
        if ((int64_t)r[v] + t[v] != cmax)
            continue;
        int64_t rj, tj;
        job_window(s, v, &rj, &tj);
        for (int a = s->alt_start[v]; a < s->alt_start[v + 1]; a++) {
            int k = s->alt_mach[a];
            int64_t pk = s->alt_dur[a];
            int64_t least = rj + pk + tj;
            if (least > cmax + slack || least > b.est)
                continue;
            const int *q = s->seq + (size_t)k * s->n;
            const int *e = s->mend + (size_t)k * s->n, *tl = s->mtail + (size_t)k * s->n;
            int lo, hi, skip, ns;
            bounds(s, v, k, rj, tj, &lo, &hi, &skip, &ns);
            if (lo > hi)
                continue;
            int64_t base = ((int64_t)v * 7919 + (int64_t)k * 104729 + salt) & 0xFFFF;
            for (int i = lo; i <= hi; i++) {
                if (i == skip)
                    continue;
                int64_t head = rj, tail = tj;
                int u = -1;
                if (i > 0) {
                    u = at(q, skip, i - 1);
                    if (at(e, skip, i - 1) > head) head = at(e, skip, i - 1);
                }
                if (i < ns && at(tl, skip, i) > tail)
                    tail = at(tl, skip, i);
                int64_t est = head + pk + tail;
                if (est > b.est && est > f.est)
                    continue;
                Move c = {est, (int)((base + (int64_t)i * 31337) & 0xFFFF), v, k, i};
                if (!f_ok || move_less(&c, &f)) {
                    f = c;
                    f_ok = 1;
                }
                if ((!b_ok || move_less(&c, &b)) && !(tabu_get(s, v, k, u) > it && est >= best_c)) {
                    b = c;
                    b_ok = 1;
                }
            }
        }
    }
    if (b_ok) *out = b;
    else if (f_ok) *out = f;
    return b_ok || f_ok;
}

/* The restart's random moves (tabu.py's _neighbours order: critical operations by number, each one's machines
 * in problem order, positions in increasing order, no slack): how many there are (pick < 0), or the pick-th one
 * in *out. */
static long count_or_pick(Shop *s, long pick, Move *out)
{
    const int *r = s->r, *t = s->t;
    long count = 0;
    fill_machine_times(s);
    for (int v = 0; v < s->n; v++) {
        if ((int64_t)r[v] + t[v] != s->cmax)
            continue;
        int64_t rj, tj;
        job_window(s, v, &rj, &tj);
        for (int a = s->alt_start[v]; a < s->alt_start[v + 1]; a++) {
            int k = s->alt_mach[a];
            if (rj + s->alt_dur[a] + tj > s->cmax)
                continue;
            int lo, hi, skip, ns;
            bounds(s, v, k, rj, tj, &lo, &hi, &skip, &ns);
            for (int i = lo; i <= hi; i++) {
                if (i == skip)
                    continue;
                if (count == pick) {
                    out->v = v;
                    out->k = k;
                    out->i = i;
                }
                count++;
            }
        }
    }
    return count;
}

/* ---- applying the move and re-timing ---- */

static void relink_machine(Shop *s, int k)
{
    const int *q = s->seq + (size_t)k * s->n;
    int prev = -1;
    for (int j = 0; j < s->mlen[k]; j++) {
        int o = q[j];
        s->pos[o] = j;
        s->mprev[o] = prev;
        if (prev >= 0) s->mnext[prev] = o;
        prev = o;
    }
    if (prev >= 0) s->mnext[prev] = -1;
}

static int dur_on(const Shop *s, int v, int k)
{
    int d = 0;  /* the last alternative on k wins, as dict(problem.alts[v]) does */
    for (int a = s->alt_start[v]; a < s->alt_start[v + 1]; a++)
        if (s->alt_mach[a] == k) d = s->alt_dur[a];
    return d;
}

/* Put v at index i of machine k's order (index counted without v). */
static void apply_move(Shop *s, int v, int k, int i)
{
    int m = s->assign[v];
    int *old = s->seq + (size_t)m * s->n, *q = s->seq + (size_t)k * s->n;
    int oi = s->pos[v];
    memmove(old + oi, old + oi + 1, sizeof(int) * (size_t)(s->mlen[m] - oi - 1));
    s->mlen[m]--;
    memmove(q + i + 1, q + i, sizeof(int) * (size_t)(s->mlen[k] - i));
    q[i] = v;
    s->mlen[k]++;
    s->assign[v] = k;
    s->dur[v] = dur_on(s, v, k);
    relink_machine(s, m);
    if (k != m) relink_machine(s, k);
}

/* Heads, tails and makespan by one topological sweep; 0 when the machine orders make a cycle. */
static int evaluate(Shop *s)
{
    int n = s->n, *indeg = s->scratch, *order = s->scratch + n, *r = s->r, *t = s->t, *dur = s->dur;
    int top = 0, done = 0;  /* order[0..top) is the stack of ready operations, order grows from the end */
    for (int o = 0; o < n; o++) {
        indeg[o] = s->pred_start[o + 1] - s->pred_start[o] + (s->mprev[o] >= 0);
        r[o] = s->release[o];
    }
    /* the stack and the finished order share one array: ready ops are pushed at the front, finished ops are
     * written at the back (order[n-1-done]); the two never meet since each op is in at most one of them */
    for (int o = 0; o < n; o++)
        if (indeg[o] == 0) order[top++] = o;
    int64_t cm = 0;
    while (top > 0) {
        int o = order[--top];
        order[n - 1 - done++] = o;
        int e = r[o] + dur[o];
        if (e > cm) cm = e;
        for (int a = s->succ_start[o]; a < s->succ_start[o + 1]; a++) {
            int x = s->succ[a];
            if (r[x] < e) r[x] = e;
            if (--indeg[x] == 0) order[top++] = x;
        }
        int x = s->mnext[o];
        if (x >= 0) {
            if (r[x] < e) r[x] = e;
            if (--indeg[x] == 0) order[top++] = x;
        }
    }
    if (done < n)
        return 0;
    for (int j = 0; j < n; j++) {  /* order[0] is the last op finished: tails from the end backwards */
        int o = order[j], best = 0;
        for (int a = s->succ_start[o]; a < s->succ_start[o + 1]; a++)
            if (t[s->succ[a]] > best) best = t[s->succ[a]];
        int x = s->mnext[o];
        if (x >= 0 && t[x] > best) best = t[x];
        t[o] = best + dur[o];
    }
    s->cmax = cm;
    return 1;
}

/* ---- the Python entry point ---- */

#define N_ARRAYS 24

typedef struct {
    Py_buffer view[N_ARRAYS];
    int count;
} Views;

static void release_views(Views *vs)
{
    for (int i = 0; i < vs->count; i++)
        PyBuffer_Release(&vs->view[i]);
    vs->count = 0;
}

/* The buffer of obj as writable items of `size` bytes, at least `need` of them. */
static void *get(Views *vs, PyObject *obj, Py_ssize_t size, Py_ssize_t need, const char *what)
{
    Py_buffer *b = &vs->view[vs->count];
    if (PyObject_GetBuffer(obj, b, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    vs->count++;
    if (b->itemsize != size || b->len / size < need) {
        PyErr_Format(PyExc_ValueError, "%s: need %zd items of %zd bytes", what, need, size);
        return NULL;
    }
    return b->buf;
}

/* The shop and state arrays (the tuple tabu_steps.CStepper.arrays) in *s; -1 with an exception set. */
static int open_shop(PyObject *arrays, int n, int m, long long cmax, Shop *sp, Views *vs)
{
    if (!PyTuple_Check(arrays) || PyTuple_GET_SIZE(arrays) != N_ARRAYS || n < 1 || m < 1) {
        PyErr_SetString(PyExc_ValueError, "_tabu_step: bad arrays or sizes");
        return -1;
    }
    Shop s = {.n = n, .m = m, .cmax = cmax};
    PyObject **a = &PyTuple_GET_ITEM(arrays, 0);
    int ok = (s.alt_start = get(vs, a[0], 4, n + 1, "alt_start")) != NULL;
    ok = ok && (s.alt_mach = get(vs, a[1], 4, s.alt_start[n], "alt_mach")) != NULL;
    ok = ok && (s.alt_dur = get(vs, a[2], 4, s.alt_start[n], "alt_dur")) != NULL;
    ok = ok && (s.pred_start = get(vs, a[3], 4, n + 1, "pred_start")) != NULL;
    ok = ok && (s.pred = get(vs, a[4], 4, s.pred_start[n], "pred")) != NULL;
    ok = ok && (s.succ_start = get(vs, a[5], 4, n + 1, "succ_start")) != NULL;
    ok = ok && (s.succ = get(vs, a[6], 4, s.succ_start[n], "succ")) != NULL;
    ok = ok && (s.release = get(vs, a[7], 4, n, "release")) != NULL;
    ok = ok && (s.assign = get(vs, a[8], 4, n, "assign")) != NULL;
    ok = ok && (s.dur = get(vs, a[9], 4, n, "dur")) != NULL;
    ok = ok && (s.pos = get(vs, a[10], 4, n, "pos")) != NULL;
    ok = ok && (s.seq = get(vs, a[11], 4, (Py_ssize_t)n * m, "seq")) != NULL;
    ok = ok && (s.mlen = get(vs, a[12], 4, m, "mlen")) != NULL;
    ok = ok && (s.mprev = get(vs, a[13], 4, n, "mprev")) != NULL;
    ok = ok && (s.mnext = get(vs, a[14], 4, n, "mnext")) != NULL;
    ok = ok && (s.r = get(vs, a[15], 4, n, "r")) != NULL;
    ok = ok && (s.t = get(vs, a[16], 4, n, "t")) != NULL;
    ok = ok && (s.scratch = get(vs, a[17], 4, 2 * (Py_ssize_t)n * (m + 1), "scratch")) != NULL;
    if (ok) {
        s.mend = s.scratch + 2 * (size_t)n;
        s.mtail = s.mend + (size_t)n * m;
    }
    ok = ok && (s.run_assign = get(vs, a[18], 4, n, "run_assign")) != NULL;
    ok = ok && (s.run_start = get(vs, a[19], 4, n, "run_start")) != NULL;
    ok = ok && (s.run_end = get(vs, a[20], 4, n, "run_end")) != NULL;
    ok = ok && (s.tabu_key = get(vs, a[21], 8, 2, "tabu_key")) != NULL;
    if (ok) s.tabu_cap = vs->view[vs->count - 1].len / 8;
    ok = ok && (s.tabu_exp = get(vs, a[22], 8, s.tabu_cap, "tabu_exp")) != NULL;
    ok = ok && (s.tabu_used = get(vs, a[23], 8, 1, "tabu_used")) != NULL;
    if (ok && (s.tabu_cap & (s.tabu_cap - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "_tabu_step: the tabu table's size must be a power of two");
        ok = 0;
    }
    if (!ok) {
        release_views(vs);
        return -1;
    }
    *sp = s;
    return 0;
}

/* run(arrays, n_ops, n_machines, it, n_steps, key, tmin, tmax, best_c, run_c, stall, stall_limit, elite, cmax)
 *   -> (status, it, best_c, run_c, stall, cmax, run_improved) */
static PyObject *run(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *arrays;
    long long it, n_steps, best_c, run_c, stall, stall_limit, cmax;
    unsigned int key;
    int n, m, tmin, tmax, elite;
    if (!PyArg_ParseTuple(args, "OiiLLIiiLLLLiL", &arrays, &n, &m, &it, &n_steps, &key, &tmin, &tmax, &best_c,
                          &run_c, &stall, &stall_limit, &elite, &cmax))
        return NULL;
    if (tmax < tmin) {
        PyErr_SetString(PyExc_ValueError, "run: tmax < tmin");
        return NULL;
    }
    Views vs = {.count = 0};
    Shop s;
    if (open_shop(arrays, n, m, cmax, &s, &vs) < 0)
        return NULL;

    int status = DONE, run_improved = 0;
    uint32_t span = (uint32_t)(tmax - tmin + 1);
    Py_BEGIN_ALLOW_THREADS
    for (long long step = 0; step < n_steps; step++) {
        it++;
        uint32_t x = mix(key, (uint32_t)it);
        Move mv;
        if (!choose(&s, x & 0xFFFF, it, best_c, 0, &mv) &&
            !choose(&s, x >> 16, it, best_c, (int64_t)1 << 40, &mv)) {
            status = NOMOVE;
            break;
        }
        int m_old = s.assign[mv.v], prev_old = s.mprev[mv.v];
        apply_move(&s, mv.v, mv.k, mv.i);
        if (!evaluate(&s)) {
            status = CYCLE;
            break;
        }
        int64_t exp = it + tmin + mix(key ^ 0x5BD1E995u, (uint32_t)it) % span;
        if (tabu_put(&s, mv.v, m_old, prev_old, exp, it) < 0) {
            status = -1;
            break;
        }
        if (elite && s.cmax < run_c) {
            run_c = s.cmax;
            memcpy(s.run_assign, s.assign, sizeof(int) * (size_t)n);
            memcpy(s.run_start, s.r, sizeof(int) * (size_t)n);
            for (int o = 0; o < n; o++)
                s.run_end[o] = s.r[o] + s.dur[o];
            run_improved = 1;
        }
        if (s.cmax < best_c) {
            best_c = s.cmax;
            stall = 0;
            status = IMPROVED;
            break;
        }
        if (++stall > stall_limit) {
            status = STALLED;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    release_views(&vs);
    if (status < 0)
        return PyErr_NoMemory();
    return Py_BuildValue("iLLLLLi", status, it, best_c, run_c, stall, (long long)s.cmax, run_improved);
}

/* reset(arrays, n_ops, n_machines) -> makespan, or -1 when the machine orders make a cycle: durations,
 * positions, machine neighbours, heads and tails from seq, mlen and assign (after Python wrote a snapshot back). */
static PyObject *reset(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *arrays;
    int n, m;
    if (!PyArg_ParseTuple(args, "Oii", &arrays, &n, &m))
        return NULL;
    Views vs = {.count = 0};
    Shop s;
    if (open_shop(arrays, n, m, 0, &s, &vs) < 0)
        return NULL;
    for (int o = 0; o < n; o++)
        s.dur[o] = dur_on(&s, o, s.assign[o]);
    for (int k = 0; k < m; k++)
        relink_machine(&s, k);
    long long cm = evaluate(&s) ? s.cmax : -1;
    release_views(&vs);
    return PyLong_FromLongLong(cm);
}

/* neighbours(arrays, n_ops, n_machines, cmax, pick) -> with pick < 0 the number of the restart's candidate
 * moves; else the pick-th one is made and the new makespan returned (-1: a cycle, cannot happen). */
static PyObject *neighbours(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *arrays;
    int n, m;
    long long cmax, pick;
    if (!PyArg_ParseTuple(args, "OiiLL", &arrays, &n, &m, &cmax, &pick))
        return NULL;
    Views vs = {.count = 0};
    Shop s;
    if (open_shop(arrays, n, m, cmax, &s, &vs) < 0)
        return NULL;
    Move mv = {0, 0, -1, 0, 0};
    long long count = count_or_pick(&s, (long)pick, &mv), out = count;
    if (pick >= 0) {
        if (mv.v < 0) {
            release_views(&vs);
            PyErr_SetString(PyExc_IndexError, "neighbours: no such move");
            return NULL;
        }
        apply_move(&s, mv.v, mv.k, mv.i);
        out = evaluate(&s) ? s.cmax : -1;
    }
    release_views(&vs);
    return PyLong_FromLongLong(out);
}

static PyMethodDef methods[] = {
    {"run", run, METH_VARARGS, "Run up to n tabu steps on the flat arrays; see _tabu_step.c."},
    {"reset", reset, METH_VARARGS, "Re-derive and re-time the state from seq, mlen and assign."},
    {"neighbours", neighbours, METH_VARARGS, "Count the restart's random moves, or make the pick-th one."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tabu_step", "The tabu search's step, compiled.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__tabu_step(void)
{
    return PyModule_Create(&module);
}
