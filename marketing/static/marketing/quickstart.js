/* The quickstart's Copy buttons: copy a sample's code as shown, and say so. */
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-code]");
  if (!button) return;
  const code = document.getElementById(button.dataset.copyCode);
  const status = document.getElementById("copy-status");
  const say = (message) => {
    if (status) status.textContent = message;
    button.textContent = message === "Copied." ? "Copied" : "Copy";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(code.textContent).then(() => say("Copied."), () => say("Copy failed: select the code and copy it."));
  } else {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say(document.execCommand && document.execCommand("copy") ? "Copied." : "Select the code and copy it.");
  }
});
