# The main job, end to end (run by `make demo` from the top of the tree):
# encode held-out SDSS r-band simulations and the real M2 frame with the
# shipped encoders (models/sdss-r, trained by `make models`), calibrate,
# reconstruct, and write everything to $(OUT).  With TRAIN=1 the five
# encoders are first trained from nothing into $(OUT)/models, on a budget of
# minutes (the shipped ones took hours: models/sdss-r/*.cpu).  Every output is a file target written as $@.tmp and
# renamed, so a second run redoes only what is missing or out of date.
#
#   make -f examples/demo.mk BIN=build/release/bin OUT=demo-out [DATA=...]

BIN  ?= build/release/bin
OUT  ?= demo-out
DATA ?= $(abspath ../shared/data/sdss-2583-2-136)
J    ?= 2

# Training budget: about 9 minutes in all on 2 cores.
STEPS_detect      ?= 1000
STEPS_classify    ?= 500
STEPS_galaxy      ?= 500
STEPS_lens-detect ?= 400
STEPS_lens        ?= 700
HELDOUT           ?= 500

SIM   := $(BIN)/sl-simulate -q -p sdss -b r
TASKS := detect classify galaxy lens-detect lens
ifeq ($(TRAIN),1)
MODEL_DIR := $(OUT)/models
else
MODEL_DIR := models/sdss-r
endif
MODELS := $(TASKS:%=$(MODEL_DIR)/%.slm)
USE    := $(TASKS:%=-m $(MODEL_DIR)/%.slm)
FRAME  := $(DATA)/frame-r-002583-2-0136.fits.bz2

.DELETE_ON_ERROR:
.PHONY: all report

all: $(OUT)/calibration.txt $(OUT)/lens-calibration.txt $(OUT)/reconstructions/.done \
     $(if $(wildcard $(FRAME)),$(OUT)/m2-catalog.fits) report

# Training streams: endless simulations, each encoder its own seed, from the
# prior the held-out data come from, so that probabilities mean what they say
# (a lens-detect encoder trained on lens-rich skies would overstate P(lens));
# only the lens encoder, which is conditioned on a lens being there, sees
# lens-rich skies, to meet more lenses per image.
sim_detect      := -s 11
sim_classify    := -s 12
sim_galaxy      := -s 13
sim_lens-detect := -s 14
sim_lens        := -s 15 --set lens_prob=1

models/sdss-r/%.slm:
	@echo "$@ is missing: run 'make models' (hours), or 'make demo TRAIN=1' (minutes)"; exit 1

$(OUT)/models/%.slm:
	@mkdir -p $(@D)
	@echo "== training the $* encoder ($(STEPS_$*) steps)"
	$(SIM) -n 0 $(sim_$*) | $(BIN)/sl-train -t $* --steps $(STEPS_$*) -j $(J) --progress \
	    --checkpoint-every 0 -o $@

# Held-out images: the default prior, and a lens-rich set for the lens factors.
$(OUT)/heldout.slr:
	@mkdir -p $(@D)
	$(SIM) -n $(HELDOUT) -s 1000 -j $(J) -o $@

$(OUT)/heldout-lenses.slr:
	@mkdir -p $(@D)
	$(SIM) -n $(HELDOUT) -s 2000 -j $(J) --set lens_prob=1 -o $@

# The whole cascade, pixels kept for the reconstruction score (--chi2).
$(OUT)/heldout-est.slr: $(OUT)/heldout.slr $(MODELS)
	$(BIN)/sl-encode -q -j $(J) $(USE) $< -o $@

# Each lens factor as it was trained: at the true positions of true lenses.
$(OUT)/heldout-lenses-est.slr: $(OUT)/heldout-lenses.slr $(MODELS)
	$(BIN)/sl-encode -q -j $(J) --no-pixels --at truth $(USE) $< -o $@

$(OUT)/calibration.txt: $(OUT)/heldout-est.slr
	$(BIN)/sl-calibrate -q --min-snr 13.6 --chi2 --plots $(OUT)/plots --json $(OUT)/calibration.json \
	    $< > $@.tmp && mv $@.tmp $@

$(OUT)/lens-calibration.txt: $(OUT)/heldout-lenses-est.slr
	$(BIN)/sl-calibrate -q --plots $(OUT)/plots-lens $< > $@.tmp && mv $@.tmp $@

# Reconstructions of lens systems with the brighter arcs of the prior (lensed
# source flux 3000-10000 e-, about three galaxies per image, all of them lens
# systems): each PNG shows the image, the image drawn from the estimated
# catalog, and the residual; true lens systems circled green on the image,
# estimated ones red on every panel.
$(OUT)/reconstructions/.done: $(MODELS)
	@mkdir -p $(@D)
	$(SIM) -n 6 -s 3000 --set density=7 --set star_prob=0 --set lens_prob=1 \
	    --set src_flux_min=3000 | \
	  $(BIN)/sl-encode -q $(USE) | \
	  $(BIN)/sl-simulate -q --render --catalog estimate --noiseless --png $(@D) --compare \
	    --mark-lenses -o /dev/null
	@touch $@

# The real frame: SDSS run 2583, camcol 2, field 136 (the globular cluster M2).
$(OUT)/data/frame-r.fits: $(FRAME)
	@mkdir -p $(@D)
	bunzip2 -c $< > $@.tmp && mv $@.tmp $@

$(OUT)/m2-catalog.fits: $(OUT)/data/frame-r.fits $(MODELS)
	$(BIN)/sl-tile -q $(USE) --photofield $(DATA)/photoField-002583-2.fits \
	    --psfield $(DATA)/psField-002583-2-0136.fit $< | \
	  $(BIN)/sl-encode -q -j $(J) --no-pixels $(USE) | $(BIN)/sl-merge -q -o $@

report: $(OUT)/calibration.txt $(OUT)/lens-calibration.txt
	@echo
	@echo "== $(HELDOUT) held-out images, whole cascade: detection, lens finding, reconstruction"
	@sed -n '/^Detection/,/^$$/p;/^Lens finding/,/^$$/p;/^Reconstruction/,/^$$/p' $(OUT)/calibration.txt
	@echo "== sharpness beside coverage: R2 and posterior/prior 90% width, by SNR"
	@sed -n '/^Sharpness/,/^$$/p;/^Coverage/,/^$$/p' $(OUT)/calibration.txt
	@echo "== the lens factors at $(HELDOUT) lens-rich held-out images"
	@sed -n '/^Coverage/,/^$$/p;/^Sharpness/,/^$$/p' $(OUT)/lens-calibration.txt
	@echo "== made, in $(OUT)/:"
	@echo "  $(MODEL_DIR)/*.slm  the five encoders used (sl-cat --type model ...)"
	@echo "  calibration.txt            detection, reliability, coverage, accuracy (sl-calibrate(1))"
	@echo "  lens-calibration.txt       the same for the galaxy and lens factors, at true sources"
	@echo "  plots/, plots-lens/        SVG figures: reliability, coverage, SBC, TARP, theta_E"
	@echo "  reconstructions/*.png      panels: image | drawn from the estimate | residual;"
	@echo "                             true lens systems circled green, estimated ones red"
	@if [ -f $(OUT)/m2-catalog.fits ]; then \
	    echo "  m2-catalog.fits            the catalog of the real SDSS frame of M2 (FITS table)"; \
	else echo "  (no real frame: $(FRAME) not found; set DATA)"; fi
