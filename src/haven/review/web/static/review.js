// Keyboard shortcuts for the review console: every key presses a visible button (data-key) or picks a
// classification; nothing happens while typing in a field.
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
    if (ev.key === "Escape") t.blur();
    return;
  }
  var classes = ["A1", "A2", "B1", "B2"];
  if (ev.key >= "1" && ev.key <= "4") {
    var radio = document.getElementById("class-" + classes[Number(ev.key) - 1]);
    if (radio) { radio.checked = true; ev.preventDefault(); }
    return;
  }
  if (ev.key === "r") {
    var reason = document.getElementById("reason");
    if (reason) { reason.focus(); ev.preventDefault(); }
    return;
  }
  var button = document.querySelector('button[data-key="' + ev.key + '"]');
  if (button) {
    ev.preventDefault();
    if (button.form && button.form.reportValidity && !button.form.reportValidity()) return;
    button.click();
  }
});
