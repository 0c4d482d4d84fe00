// Included inside a protocol checker (rtl/vr_check.sv, rtl/outstanding_check.sv), simulation only:
// broken(what) stops the simulation with $fatal naming the checker's instance, and appends the
// message to the file named by +SIM_ERROR_FILE= (tb.layer_sim gives it as the reason of the layer
// the simulation stopped in). The path is taken outside the task: inside it, %m names the task.
  string where, err_file;
  integer fd;
  initial where = $sformatf("%m");
  task automatic broken(input string what);
    if ($value$plusargs("SIM_ERROR_FILE=%s", err_file)) begin
      fd = $fopen(err_file, "a");
      $fdisplay(fd, "%s: protocol: %s (at %0t)", where, what, $time);
      $fclose(fd);
    end
    $fatal(1, "%s: protocol: %s", where, what);
  endtask
