// Copy buttons: a button with data-copy puts that text on the clipboard.
// The console's only script; served from its origin (CSP script-src 'self').
"use strict";
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button.copy");
  if (!b) return;
  var text = b.getAttribute("data-copy");
  var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { b.textContent = "Select and copy"; });
  } else {
    var t = document.createElement("textarea");
    t.value = text;
    document.body.appendChild(t);
    t.select();
    try { document.execCommand("copy"); done(); } catch (e) { b.textContent = "Select and copy"; }
    document.body.removeChild(t);
  }
});
