package cli

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/simulate"
)

// newSimulateTDXCommand returns "simulate tdx": a TD quote (v4) signed
// through the data directory's development PCK key, written as the raw
// quote that `maat attest tdx --evidence` and the SDK's AttestTDXVM send.
func newSimulateTDXCommand() *cobra.Command {
	var dataDir, out, runtimeFile, reportData, initTimeFile, mrConfigID, mrtd, mrOwner, mrOwnerConfig, mrSEAM, teeTCBSVN, tdAttrs, xfam string
	var rtmr [4]string
	var debug bool
	cmd := &cobra.Command{
		Use:   "tdx --out FILE",
		Short: "Write a TDX TD quote (v4) for /attest/TdxVm",
		Long: `Write a TD quote (version 4, ECDSA-P256) whose TD report carries the fields given, signed by
a fresh attestation key that the development TD quoting enclave's report binds, with the
development PCK chain. Unset fields are zero except TEE_TCB_SVN (03 01: TDX module TDX_01,
SVN 3), TD_ATTRIBUTES (SEPT_VE_DISABLE) and XFAM (0x602e7), as a common TD has. Send it with
` + "`maat attest tdx --evidence FILE`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			td := simulate.DefaultTD()
			rd, err := simReportData(cmd, runtimeFile, reportData)
			if err != nil {
				return err
			}
			td.ReportData = rd
			switch {
			case initTimeFile != "" && mrConfigID != "":
				return fmt.Errorf("--init-time-data and --mrconfigid are exclusive")
			case initTimeFile != "":
				b, err := clientReadFile(cmd, initTimeFile)
				if err != nil {
					return fmt.Errorf("--init-time-data: %w", err)
				}
				td.MRConfigID = simulate.MRConfigIDFor(b)
			}
			fields := []struct {
				name, v string
				dst     []byte
			}{{"mrconfigid", mrConfigID, td.MRConfigID[:]}, {"mrtd", mrtd, td.MRTD[:]},
				{"mrowner", mrOwner, td.MROwner[:]}, {"mrownerconfig", mrOwnerConfig, td.MROwnerConfig[:]},
				{"mrseam", mrSEAM, td.MRSEAM[:]}, {"tee-tcb-svn", teeTCBSVN, td.TEETCBSVN[:]},
				{"td-attributes", tdAttrs, td.TDAttributes[:]}, {"xfam", xfam, td.XFAM[:]}}
			for i := range rtmr {
				fields = append(fields, struct {
					name, v string
					dst     []byte
				}{fmt.Sprintf("rtmr%d", i), rtmr[i], td.RTMR[i][:]})
			}
			for _, f := range fields {
				if f.v == "" {
					continue
				}
				b, err := hexFlag(f.name, f.v, len(f.dst))
				if err != nil {
					return err
				}
				copy(f.dst, b)
			}
			if td.TEETCBSVN[1] > simulate.MaxTDXModuleMajor {
				return fmt.Errorf("--tee-tcb-svn: byte 1 (the TDX module's major version) is %d; the development TCB Info knows modules 0 to %d", td.TEETCBSVN[1], simulate.MaxTDXModuleMajor)
			}
			td.Debug = debug
			p, err := simulate.Load(dataDir, time.Now())
			if err != nil {
				return err
			}
			q, err := p.TDQuote(td)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, q, 0o644); err != nil {
				return err
			}
			attrs := binary.LittleEndian.Uint64(td.TDAttributes[:])
			if debug {
				attrs |= 1
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d bytes of SIMULATED TDX evidence (TD quote v4, REPORTDATA %x…, TD_ATTRIBUTES %#x) to %s; send it with `maat attest tdx --evidence %s`; only a --dev --dev-trust-simulated-evidence server on %s accepts it\n",
				len(q), td.ReportData[:8], attrs, out, out, dataDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./maat-data", "data directory of the server that will verify the evidence (holds the development PKI)")
	f.StringVar(&out, "out", "", "output file: the TD quote, binary (required)")
	f.StringVar(&runtimeFile, "runtime-data", "", "file whose SHA-256 goes into REPORTDATA[0:32] (send the same bytes as runtime data)")
	f.StringVar(&reportData, "report-data", "", "REPORTDATA as hex (up to 64 bytes, zero-padded)")
	f.StringVar(&initTimeFile, "init-time-data", "", "file whose SHA-256, zero-padded, becomes MRCONFIGID (send the same bytes as init-time data)")
	f.StringVar(&mrConfigID, "mrconfigid", "", "MRCONFIGID as hex (up to 48 bytes, zero-padded)")
	f.StringVar(&mrtd, "mrtd", "", "MRTD as hex (up to 48 bytes, zero-padded)")
	for i := range rtmr {
		f.StringVar(&rtmr[i], fmt.Sprintf("rtmr%d", i), "", fmt.Sprintf("RTMR%d as hex (up to 48 bytes, zero-padded)", i))
	}
	f.StringVar(&mrOwner, "mrowner", "", "MROWNER as hex (up to 48 bytes, zero-padded)")
	f.StringVar(&mrOwnerConfig, "mrownerconfig", "", "MROWNERCONFIG as hex (up to 48 bytes, zero-padded)")
	f.StringVar(&mrSEAM, "mrseam", "", "MRSEAM (the TDX module's measurement) as hex (up to 48 bytes; default SHA-384 of \"Maat development TDX module\")")
	f.StringVar(&teeTCBSVN, "tee-tcb-svn", "", "TEE_TCB_SVN as hex (up to 16 bytes; default 0301: module SVN 3, major version 1 = TDX_01)")
	f.StringVar(&tdAttrs, "td-attributes", "", "TD_ATTRIBUTES as hex, wire (little-endian) order (up to 8 bytes; default 0000001000000000: SEPT_VE_DISABLE)")
	f.StringVar(&xfam, "xfam", "", "XFAM as hex, wire order (up to 8 bytes; default e702060000000000)")
	f.BoolVar(&debug, "debug", false, "set TD_ATTRIBUTES.DEBUG (dbgstat: enabled, tdx_td_attributes_debug: true)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
