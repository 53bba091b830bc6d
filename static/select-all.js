// "Select all on this page" for the users list: ticks or clears every row's
// checkbox of the bulk form, and shows itself half ticked when only some rows
// are. Without scripts it stays hidden and each row is ticked by itself.
(() => {
  const all = document.getElementById("select-all");
  if (!all) return;
  const rows = () => [...document.querySelectorAll('input[type=checkbox][name=id][form=bulk]')];
  const sync = () => {
    const boxes = rows();
    const ticked = boxes.filter((box) => box.checked).length;
    all.checked = ticked > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  };
  all.addEventListener("change", () => {
    for (const box of rows()) box.checked = all.checked;
    sync();
  });
  for (const box of rows()) box.addEventListener("change", sync);
  // A page restored from the back/forward cache keeps its ticks.
  window.addEventListener("pageshow", sync);
  all.closest("[hidden]")?.removeAttribute("hidden");
  sync();
})();
