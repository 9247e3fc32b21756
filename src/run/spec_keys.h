/* spec_keys.h: the core configuration keys, one X-macro list per section
 * (see util/keydef.h for the entry format). run/spec.h generates the typed
 * spec structs from these lists and run/config.c the schema (defaults,
 * checks, help, canonical order: the order here is the order of the stored
 * config text, so never reorder or rename a key of a recorded run).
 *
 * [data]'s core keys are in data/dataset.h (they generate bfn_data_params).
 * The keys of registered things live beside them and are spliced in after
 * their section's core keys: a network's (models/registry.c, its keys header
 * beside its file), a family's (bfn/family.c), a dataset's (data/dataset.c). */
#ifndef BFN_RUN_SPEC_KEYS_H
#define BFN_RUN_SPEC_KEYS_H

#include "util/keydef.h"

#define BFN_EXPERIMENT_KEYS(X)                                                                                     \
    X(name, str, "experiment.name", STR, "unnamed", 0, 0, NULL, SECTION,                                            \
      "experiment name (tables group runs by it)")                                                                  \
    X(profile, str, "experiment.profile", STR, "small", 0, 0, NULL, SECTION, "profile used when none is given")   \
    X(description, str, "experiment.description", STR, "", 0, 0, NULL, SECTION,                                     \
      "one line shown in tables and reports")


#define BFN_BFN_KEYS(X)                                                                                            \
    X(family, str, "bfn.family", NAME, "discrete", 0, 0, NULL, SECTION, "data family")                            \
    X(classes, int, "bfn.classes", INT, "2", 2, 256, NULL, SECTION, "K for discrete data")                        \
    X(bins, int, "bfn.bins", INT, "256", 2, 4096, NULL, SECTION,                                                    \
      "bins of binned image data (256 = 8 bit, 16 = 4 bit)")                                                        \
    X(schedule, str, "bfn.schedule", NAME, "quadratic", 0, 0, NULL, SECTION,                                        \
      "accuracy schedule (see bfn schedules)")                                                                      \
    X(beta1, double, "bfn.beta1", REAL, "9", 1e-12, BFN_KEY_BIG, NULL, SECTION,                                     \
      "beta(1) of quadratic/linear/cosine schedules (official MNIST: sqrt = 3, so 9)")                              \
    X(sigma1, double, "bfn.sigma1", REAL, "0.001", 1e-12, 1 - 1e-12, NULL, SECTION,                                 \
      "sigma_1 of the exponential schedule")                                                                        \
    X(schedule_table, str, "bfn.schedule_table", STR, "", 0, 0, NULL, SECTION,                                      \
      "TSV of (t, beta) knots for schedule = table")                                                                \
    X(mc_samples, int, "bfn.mc_samples", INT, "10", 1, 10000, NULL, NSTEP, "Monte Carlo sender samples in L^n")  \
    X(receiver, index, "bfn.receiver", ENUM, "marginal", 0, 0, "marginal|joint", NSTEP,                             \
      "discrete L^n receiver: per-coordinate (official code) or joint K-dim mixture (paper)")                       \
    X(receiver_floor, str, "bfn.receiver_floor", ENUM, "official", 0, 0, "official|exact", NSTEP,                   \
      "L^n receiver mixture weights (discrete, discretised): official = floored at FLT_EPSILON and renormalised "   \
      "as torch's Categorical does in the official code; exact = the paper's equations")

/* [model]'s core key: which network; the networks' keys are in their own
 * headers (models/NAME_keys.h). */
#define BFN_MODEL_KEYS(X) X(arch, str, "model.arch", NAME, "mlp", 0, 0, NULL, SECTION, "network (src/models/registry.c)")

#define BFN_TRAIN_KEYS(X)                                                                                          \
    X(loss, index, "train.loss", ENUM, "cts", 0, 0, "cts|nstep", SECTION, "continuous-time L^inf or n-step L^n")  \
    X(loss_steps, long, "train.loss_steps", INT, "100", 1, 1 << 30, NULL, NSTEP, "n of the n-step training loss") \
    X(steps, long, "train.steps", INT, "1000", 0, BFN_KEY_BIG, NULL, SECTION, "optimiser steps")                  \
    X(batch, long, "train.batch", INT, "128", 1, 1 << 20, NULL, SECTION, "batch size")                            \
    X(lr, double, "train.lr", REAL, "1e-4", 0, 10, NULL, SECTION, "AdamW learning rate (constant, as the official code)") \
    X(adam_beta1, double, "train.adam_beta1", REAL, "0.9", 0, 1 - 1e-12, NULL, SECTION, "AdamW beta1")            \
    X(adam_beta2, double, "train.adam_beta2", REAL, "0.98", 0, 1 - 1e-12, NULL, SECTION, "AdamW beta2")           \
    X(adam_eps, double, "train.adam_eps", REAL, "1e-8", 0, 1, NULL, SECTION, "AdamW eps")                         \
    X(weight_decay, double, "train.weight_decay", REAL, "0.01", 0, 10, NULL, SECTION, "AdamW decoupled weight decay") \
    X(ema_decay, double, "train.ema_decay", REAL, "0.9999", 0, 1 - 1e-12, NULL, SECTION,                           \
      "EMA decay (evaluation uses the EMA)")                                                                        \
    X(ema_warmup, int, "train.ema_warmup", INT, "0", 0, 1, NULL, WHEN_SET,                                          \
      "1: EMA decay at step t is min(ema_decay, (1 + t)/(10 + t)), so short runs' EMA does not lag")                \
    X(clip, double, "train.clip", REAL, "5", 0, BFN_KEY_BIG, NULL, SECTION, "gradient-norm clip (0 = off)")       \
    X(seed, ulong, "train.seed", INT, "666", 0, BFN_KEY_BIG, NULL, SECTION,                                         \
      "seed of initialisation, data order and noise")                                                               \
    X(log_every, long, "train.log_every", INT, "50", 1, BFN_KEY_BIG, NULL, NEVER, "steps between training-metric rows") \
    X(ckpt_every, long, "train.ckpt_every", INT, "500", 1, BFN_KEY_BIG, NULL, NEVER,                                \
      "steps between checkpoints (last)")                                                                           \
    X(keep_every, long, "train.keep_every", INT, "0", 0, BFN_KEY_BIG, NULL, NEVER,                                  \
      "also keep every k-th step's checkpoint (0 = none)")                                                          \
    X(val_every, long, "train.val_every", INT, "500", 1, BFN_KEY_BIG, NULL, NEVER,                                  \
      "steps between validation passes (EMA, L^inf)")                                                               \
    X(val_repeats, long, "train.val_repeats", INT, "1", 1, 100000, NULL, NEVER, "validation passes")

#define BFN_EVAL_KEYS(X)                                                                                           \
    X(steps, list, "eval.steps", LIST, "10,25,50,100,784,1000,inf", 1, 1 << 30, NULL, SECTION,                      \
      "n of the test L^n (inf = L^inf)")                                                                            \
    X(repeats, long, "eval.repeats", INT, "10", 2, 1000000, NULL, SECTION, "passes over the test set per n")      \
    X(batch, long, "eval.batch", INT, "500", 1, 1 << 20, NULL, SECTION, "evaluation batch size")                  \
    X(seed, ulong, "eval.seed", INT, "1", 0, BFN_KEY_BIG, NULL, SECTION, "evaluation seed (the official README uses 1)") \
    X(t_bins, long, "eval.t_bins", INT, "50", 0, 10000, NULL, SECTION,                                              \
      "time bins of the loss-against-time curve (0 = none)")                                                        \
    X(checkpoint, str, "eval.checkpoint", ENUM, "last", 0, 0, "last|best", SECTION, "checkpoint evaluated")       \
    X(unit, str, "eval.unit", ENUM, "auto", 0, 0, "auto|nats/image|bits/dim|bits/char|nats/dim", SECTION,           \
      "reporting unit (auto: nats/image for K=2 images, bits/char for text, bits/dim else)")

#define BFN_SAMPLE_KEYS(X)                                                                                         \
    X(steps, long, "sample.steps", INT, "100", 1, 1 << 30, NULL, SECTION, "sampling steps")                       \
    X(count, long, "sample.count", INT, "64", 1, 100000, NULL, SECTION, "samples drawn")                          \
    X(seed, ulong, "sample.seed", INT, "1", 0, BFN_KEY_BIG, NULL, SECTION, "sampling seed")

#endif
