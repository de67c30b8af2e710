// Scanning a QR code or barcode with the camera (issue 18; docs/forms.md "Scanning codes").
//   <button class="scan-btn" data-scan="qr|barcode|any" data-scan-for="INPUT-ID">  fills a field
//   <button class="scan-btn" data-scan="any" data-scan-open="/search">            opens a record
// The browser's BarcodeDetector where it reads the wanted formats, else the vendored ZXing
// (web/static/vendor/, Apache-2.0), loaded on first use. The texts and the viewfinder come
// from <template id="wf-scan-ui"> in base.html, already in the user's language.
(function () {
  "use strict";

  var FORMATS = {
    qr: { detector: ["qr_code"], zxing: ["QR_CODE"] },
    barcode: {
      detector: ["ean_13", "ean_8", "upc_a", "upc_e", "code_128", "code_39", "code_93", "itf", "codabar"],
      zxing: ["EAN_13", "EAN_8", "UPC_A", "UPC_E", "CODE_128", "CODE_39", "CODE_93", "ITF", "CODABAR"]
    }
  };
  FORMATS.any = {
    detector: FORMATS.qr.detector.concat(FORMATS.barcode.detector),
    zxing: FORMATS.qr.zxing.concat(FORMATS.barcode.zxing)
  };
  var RECORD_PATH = /^\/instances\/[0-9A-Za-z]{10,40}$/;
  var zxingLoading = null;

  function loadZxing(src) {
    if (window.ZXing) return Promise.resolve(window.ZXing);
    if (!zxingLoading) {
      zxingLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src;
        s.onload = function () { window.ZXing ? resolve(window.ZXing) : reject(new Error("zxing")); };
        s.onerror = function () { zxingLoading = null; reject(new Error("zxing")); };
        document.head.appendChild(s);
      });
    }
    return zxingLoading;
  }

  // A function(video) -> Promise of the text read, or null when nothing is read in that frame.
  function makeReader(kind, zxingSrc) {
    var wanted = FORMATS[kind] || FORMATS.any;
    var viaPlatform = ("BarcodeDetector" in window && BarcodeDetector.getSupportedFormats)
      ? BarcodeDetector.getSupportedFormats().then(function (have) {
          var formats = wanted.detector.filter(function (f) { return have.indexOf(f) >= 0; });
          if (!formats.length) return null;
          var detector = new BarcodeDetector({ formats: formats });
          return function (video) {
            return detector.detect(video).then(function (codes) {
              return codes.length ? codes[0].rawValue : null;
            });
          };
        }).catch(function () { return null; })
      : Promise.resolve(null);
    return viaPlatform.then(function (read) {
      if (read) return read;
      return loadZxing(zxingSrc).then(function (Z) {
        var reader = new Z.MultiFormatReader();
        var hints = new Map();
        hints.set(Z.DecodeHintType.POSSIBLE_FORMATS, wanted.zxing.map(function (f) { return Z.BarcodeFormat[f]; }));
        hints.set(Z.DecodeHintType.TRY_HARDER, true);
        reader.setHints(hints);
        var canvas = document.createElement("canvas");
        var ctx = canvas.getContext("2d", { willReadFrequently: true });
        // ZXing misses some codes that fill much of the frame (a code held close, a large
        // printout) at one size yet reads them at another, and a steady hand gives the same
        // frame many times: successive frames are read at full, half and three-quarter size.
        var SIZES = [1, 0.5, 0.75], attempt = 0;
        return function (video) {
          var w = video.videoWidth, h = video.videoHeight;
          if (!w || !h) return Promise.resolve(null);
          var scale = Math.min(1, 800 / Math.max(w, h)) * SIZES[attempt++ % SIZES.length];
          canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
          ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
          try {
            var bitmap = new Z.BinaryBitmap(new Z.HybridBinarizer(new Z.HTMLCanvasElementLuminanceSource(canvas)));
            return Promise.resolve(reader.decodeWithState(bitmap).getText());
          } catch (e) {
            return Promise.resolve(null); // no code in this frame (NotFound, Checksum, Format)
          }
        };
      });
    });
  }

  function problemOf(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "nocamera";
    if (name === "insecure") return "insecure";
    return "failed";
  }

  function open(button) {
    var ui = document.getElementById("wf-scan-ui");
    if (!ui) return;
    var overlay = ui.content.firstElementChild.cloneNode(true);
    var video = overlay.querySelector("video");
    var status = overlay.querySelector(".scan-problem");
    var typed = overlay.querySelector(".scan-typed");
    var stream = null, done = false, timer = null;
    document.body.appendChild(overlay);
    document.body.classList.add("scanning");

    function close() {
      done = true;
      if (timer) clearTimeout(timer);
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      overlay.remove();
      document.body.classList.remove("scanning");
      document.removeEventListener("keydown", onKey);
    }
    function onKey(e) { if (e.key === "Escape") { close(); button.focus(); } }
    function show(problem) {
      status.textContent = status.getAttribute("data-" + problem) || status.getAttribute("data-failed");
      status.hidden = false;
      overlay.classList.add("no-camera");
      typed.querySelector("input").focus();
    }
    function use(code) {
      code = (code || "").trim();
      if (!code) return;
      close();
      deliver(button, code);
    }

    overlay.querySelector(".scan-cancel").addEventListener("click", function () { close(); button.focus(); });
    typed.addEventListener("submit", function (e) { e.preventDefault(); use(typed.querySelector("input").value); });
    document.addEventListener("keydown", onKey);
    overlay.querySelector(".scan-cancel").focus();

    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show("insecure");
      return;
    }
    var kind = button.getAttribute("data-scan") || "any";
    var reading = makeReader(kind, ui.getAttribute("data-zxing"));
    reading.catch(function () {}); // handled below, once the camera runs
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (s) {
        stream = s;
        if (done) { close(); return; }
        video.srcObject = s;
        return video.play().then(function () { return reading; }).then(function (read) {
          overlay.classList.add("live");
          (function tick() {
            if (done) return;
            read(video).then(function (code) {
              if (done) return;
              if (code) use(code); else timer = setTimeout(tick, 120);
            }, function () { if (!done) timer = setTimeout(tick, 250); });
          })();
        });
      })
      .catch(function (err) {
        if (done) return;
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; } // camera off
        show(err && err.message === "zxing" ? "failed" : problemOf(err));
      });
  }

  // What a read code does: fill the field, or open the record it names (a record's address
  // on this or another host of the same server, or a record number the search page opens).
  function deliver(button, code) {
    var target = button.getAttribute("data-scan-for");
    if (target) {
      var input = document.getElementById(target);
      if (!input) return;
      input.value = code;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
      input.classList.add("scanned");
      input.focus();
      return;
    }
    var search = button.getAttribute("data-scan-open");
    var path = null;
    try {
      var url = new URL(code);
      if ((url.protocol === "http:" || url.protocol === "https:") && RECORD_PATH.test(url.pathname)) path = url.pathname;
    } catch (e) { /* not an address: a record number or any other text */ }
    window.location.assign(path || (search + "?q=" + encodeURIComponent(code)));
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest(".scan-btn") : null;
    if (!button) return;
    e.preventDefault();
    open(button);
  });
})();
