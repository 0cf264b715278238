# Regenerates tests/config/bad/*.conf: each file is a small config with one defect and,
# on its first line, "# expect: <text the error message must contain>" (file:line
# computed here from where the defect lands). Run: python3 tests/config/make_bad.py
import os
OUT=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bad')
BASE=[('model',[('hidden','64'),('intermediate','32'),('experts','8'),('top_k','2'),('layers','2')]),
      ('router',[('scoring','softmax')]),('experts',[('activation','silu')]),('dtype',[('weights','bf16')])]
cases=[]
def case(name, expect, set=None, drop=(), add=None, mark=None, raw=None, set2=None):
    set=dict(set or {}); set.update(set2 or {})
    cases.append((name, expect, set, drop, add or [], mark, raw))

def render(set, drop, add, mark):
    secs={s:list(kv) for s,kv in BASE}
    order=[s for s,_ in BASE]
    for full,v in set.items():
        s,k=full.split('.')
        if s not in secs: secs[s]=[]; order.append(s)
        kv=secs[s]
        for i,(kk,vv) in enumerate(kv):
            if kk==k: kv[i]=(k,v); break
        else: kv.append((k,v))
    for full in drop:
        s,k=full.split('.'); secs[s]=[(kk,vv) for kk,vv in secs[s] if kk!=k]
    lines=[]; markline=None
    for s in order:
        if lines: lines.append(b'')
        lines.append(b'[%s]'%s.encode())
        for k,v in secs[s]:
            vb=v if isinstance(v,bytes) else v.encode()
            lines.append(k.encode()+b' = '+vb)
            if mark==s+'.'+k: markline=len(lines)
    for l in add: lines.append(l if isinstance(l,bytes) else l.encode())
    if mark=='last': markline=len(lines)
    return lines, markline

# type errors
case('int-abc','key \'model.hidden\': expected a decimal integer in [0, 4294967295], found \'abc\'',{'model.hidden':'abc'},mark='model.hidden')
case('int-negative','key \'model.layers\': expected a decimal integer in [0, 4294967295], found \'-2\'',{'model.layers':'-2'},mark='model.layers')
case('int-overflow-32','key \'model.experts\': expected a decimal integer in [0, 4294967295], found \'4294967296\'',{'model.experts':'4294967296'},mark='model.experts')
case('int-overflow-64','key \'weights.seed\': expected a decimal integer in [0, 18446744073709551615], found \'18446744073709551616\'',{'weights.seed':'18446744073709551616'},mark='weights.seed')
case('int-hex','key \'model.hidden\': expected a decimal integer in [0, 4294967295], found \'0x40\'',{'model.hidden':'0x40'},mark='model.hidden')
case('int-float','key \'model.top_k\': expected a decimal integer',{'model.top_k':'2.0'},mark='model.top_k')
case('int-plus-sign','key \'model.experts\': expected a decimal integer in [0, 4294967295], found \'+8\'',{'model.experts':'+8'},mark='model.experts')
case('int-hash-not-comment','key \'model.hidden\': expected a decimal integer in [0, 4294967295], found \'64#x\'',{'model.hidden':'64#x'},mark='model.hidden')
case('empty-value','key \'model.intermediate\': expected a decimal integer in [0, 4294967295], found \'\'',{'model.intermediate':''},mark='model.intermediate')
case('bool-yes','key \'router.renormalize\': expected true or false, found \'yes\'',{'router.renormalize':'yes'},mark='router.renormalize')
case('bool-one','key \'router.bias\': expected true or false, found \'1\'',{'router.bias':'1'},mark='router.bias')
case('enum-case','key \'router.scoring\': expected one of softmax|sigmoid, found \'Softmax\'',{'router.scoring':'Softmax'},mark='router.scoring')
case('enum-activation','key \'experts.activation\': expected one of silu|gelu|gelu_tanh|swiglu_oai, found \'relu\'',{'experts.activation':'relu'},mark='experts.activation')
case('enum-dtype','key \'dtype.activations\': expected one of f32|f16|bf16, found \'fp16\'',{'dtype.activations':'fp16'},mark='dtype.activations')
case('enum-device','key \'runtime.device\': expected one of auto|gpu|host, found \'cpu\'',{'runtime.device':'cpu'},mark='runtime.device')
case('enum-gate-up','key \'experts.gate_up\': expected one of concatenated|interleaved, found \'interleave\'',{'experts.gate_up':'interleave'},mark='experts.gate_up')
case('enum-layout','key \'weights.layout\': expected one of synthetic|llama4|mixtral|qwen_moe|deepseek|gpt_oss, found \'llama\'',{'weights.layout':'llama','weights.file':'m.safetensors'},mark='weights.layout')
case('float-nan','key \'router.routed_scaling_factor\': expected a finite decimal number within float range (no nan or inf), found \'nan\'',{'router.routed_scaling_factor':'nan'},mark='router.routed_scaling_factor')
case('float-inf','key \'experts.swiglu_limit\': expected a finite decimal number',{'experts.activation':'swiglu_oai','experts.swiglu_alpha':'1.702','experts.swiglu_limit':'inf'},mark='experts.swiglu_limit')
case('float-overflow','key \'router.routed_scaling_factor\': expected a finite decimal number within float range (no nan or inf), found \'1e39\'',{'router.routed_scaling_factor':'1e39'},mark='router.routed_scaling_factor')
case('float-hex','key \'router.routed_scaling_factor\': expected a finite decimal number within float range (no nan or inf), found \'0x1p1\'',{'router.routed_scaling_factor':'0x1p1'},mark='router.routed_scaling_factor')
case('float-negative','key \'router.routed_scaling_factor\': expected a finite number > 0 (1 = no scaling), found \'-1\'',{'router.routed_scaling_factor':'-1'},mark='router.routed_scaling_factor')
case('size-bad-suffix','key \'budget.device_bytes\': expected a byte count',{'budget.device_bytes':'16GB'},mark='budget.device_bytes')
case('size-lowercase','key \'budget.device_bytes\': expected a byte count: an integer with an optional K, M, G or T suffix (1K = 1024) that fits in 64 bits, 0 = unlimited, found \'16g\'',{'budget.device_bytes':'16g'},mark='budget.device_bytes')
case('size-fraction','key \'budget.host_bytes\': expected a byte count: an integer with an optional K, M, G or T suffix (1K = 1024) that fits in 64 bits, 0 = unlimited, found \'1.5G\'',{'budget.host_bytes':'1.5G'},mark='budget.host_bytes')
case('size-overflow','key \'budget.device_bytes\': expected a byte count: an integer with an optional K, M, G or T suffix (1K = 1024) that fits in 64 bits, 0 = unlimited, found \'17179869184G\'',{'budget.device_bytes':'17179869184G'},mark='budget.device_bytes')
case('string-too-long','key \'weights.prefix\': expected at most 127 bytes',{'weights.file':'m.safetensors','weights.layout':'mixtral','weights.prefix':'p'*130},mark='weights.prefix')
case('prefix-bad-chars','key \'weights.prefix\': expected a tensor-name prefix of letters, digits and . _ - /, found \'model layers.\'',{'weights.file':'m.safetensors','weights.layout':'mixtral','weights.prefix':'model layers.'},mark='weights.prefix')
# structure
case('unknown-section','section [modle]: expected one of [model], [router], [experts], [dtype], [quant], [runtime], [budget], [weights], found \'modle\'',add=['','[modle]'],mark='last')
case('unknown-empty-section','section [extra]: expected one of',add=['','[extra]'],mark='last')
case('unknown-key','key \'model.hiden\': expected one of the [model] keys (hidden, intermediate, experts, top_k, layers, shared_experts, shared_intermediate), found \'hiden\'',{'model.hiden':'64'},mark='model.hiden')
case('key-in-wrong-section','key \'router.hidden\': expected one of the [router] keys',{'router.hidden':'64'},mark='router.hidden')
case('duplicate-key','key \'model.experts\': expected one value per key (first set at line 5), found \'16\'',add=['','[runtime]'],raw=None)
case('duplicate-section','section [router]: expected once per file (first at line 9), found again',add=['','[router]','renormalize = true'],mark=None)
case('missing-hidden','missing-hidden.conf: [model] missing required key \'hidden\'',drop=['model.hidden'])
case('missing-top-k','missing-top-k.conf: [model] missing required key \'top_k\'',drop=['model.top_k'])
case('missing-scoring','missing-scoring.conf: [router] missing required key \'scoring\'',drop=['router.scoring'])
case('missing-activation','missing-activation.conf: [experts] missing required key \'activation\'',drop=['experts.activation'])
case('missing-dtype-weights','missing-dtype-weights.conf: [dtype] missing required key \'weights\'',drop=['dtype.weights'])
case('key-outside-section','key \'hidden\': expected a [section] header before the first key',raw=[b'hidden = 64'])
case('syntax-no-equals','syntax error: expected \'[section]\' or \'key = value\', found \'hidden 64\'',add=['hidden 64'],mark='last')
case('syntax-colon','syntax error: expected \'[section]\' or \'key = value\', found \'layers: 2\'',drop=['model.layers'],add=['layers: 2'],mark='last')
case('syntax-unclosed-section','syntax error: expected \']\' to close the section header',add=['','[runtime'],mark='last')
case('syntax-section-trailing','syntax error: unexpected text after the section header',add=['','[runtime] depth'],mark='last')
case('syntax-bad-key-name','syntax error: expected a key name of 1 to 48 characters [a-z0-9_] before \'=\', found \'Max-Tokens\'',add=['','[runtime]','Max-Tokens = 8'],mark='last')
case('long-key','syntax error: expected a key name of 1 to 48 characters',add=['','[runtime]','max_tokens'+'_x'*40+' = 8'],mark='last')
case('long-line','line too long: a key = value line may hold at most 198 characters without blanks and comments, found 208',add=['','[weights]','layout = mixtral','file = /'+'d'*202],mark='last')
# a 250-byte line whose tail past inih's 200-byte buffer would read as a line of its own
case('long-line-truncation','line too long: a key = value line may hold at most 198 characters',raw=[b'[router]',b'scoring = softmax',b'[experts]',b'activation = silu',b'[dtype]',b'weights = bf16',b'[model]',b'hidden = 64',b'intermediate = 32',b'experts = 8',b'top_k = 2',b'shared_experts = 0'+b' '*(199-18)+b'layers = 2'])
case('very-long-line','line too long (more than 4095 bytes)',add=['','[weights]','file = '+'y'*5000],mark='last')
# bytes
case('binary-nul','control byte 0x00 at column 11',add=['hidden2 = \x00'],mark='last')
case('binary-garbage','invalid UTF-8 byte 0xff at column 1',add=[bytes([0xff,0xfe,0x00,0x13,0x88,0x7f,0x01])+b'garbage'],mark='last')
case('binary-escape','control byte 0x1b at column 7',add=['layers\x1b[2J = 4'],mark='last')
case('utf8-overlong','invalid UTF-8 byte 0xc0 at column 10',add=[b'; inline \xc0\xaf'],mark='last')
case('utf8-surrogate','invalid UTF-8 byte 0xa0',add=[b'# \xed\xa0\x80'],mark='last')
case('utf8-truncated','truncated UTF-8 sequence',add=[b'# euro \xe2\x82'],mark='last')
case('lone-cr','control byte 0x0d at column 11',add=[b'top_k2 = 2\r\rtop_k3'],mark='last')
# ranges
case('zero-experts','key \'model.experts\': expected an integer >= 1, found \'0\'',{'model.experts':'0'},mark='model.experts')
case('zero-hidden','key \'model.hidden\': expected an integer >= 1, found \'0\'',{'model.hidden':'0'},mark='model.hidden')
case('zero-top-k','key \'model.top_k\': expected an integer in [1, experts = 8], found \'0\'',{'model.top_k':'0'},mark='model.top_k')
case('top-k-above-experts','key \'model.top_k\': expected an integer in [1, experts = 8], found \'9\'',{'model.top_k':'9'},mark='model.top_k')
case('zero-layers','key \'model.layers\': expected an integer >= 1, found \'0\'',{'model.layers':'0'},mark='model.layers')
case('zero-max-tokens','key \'runtime.max_tokens\': expected an integer >= 1, found \'0\'',{'runtime.max_tokens':'0'},mark='runtime.max_tokens')
case('ring-depth-too-big','key \'runtime.ring_depth\': expected an integer in [1, 64], found \'65\'',{'runtime.ring_depth':'65'},mark='runtime.ring_depth')
case('zero-wait-timeout','key \'runtime.wait_timeout_ms\': expected an integer >= 1 (milliseconds), found \'0\'',{'runtime.wait_timeout_ms':'0'},mark='runtime.wait_timeout_ms')
case('geometry-overflow','key \'model.intermediate\': expected a geometry whose weights fit in 64 bits (experts * 2 * intermediate * hidden * bytes overflows), found \'4294967295\'',{'model.hidden':'4294967295','model.intermediate':'4294967295','model.experts':'4294967295'},mark='model.intermediate')
case('layers-overflow','key \'model.layers\': expected a layer count whose weights fit in 64 bits',{'model.hidden':'65536','model.intermediate':'65536','model.experts':'65536','model.layers':'4294967295'},mark='model.layers')
case('shared-overflow','key \'model.shared_intermediate\': expected a geometry whose weights fit in 64 bits',{'model.hidden':'4294967295','model.shared_experts':'4294967295','model.shared_intermediate':'4294967295'},mark='model.shared_intermediate')
case('activations-overflow','key \'runtime.max_tokens\': expected a token count whose activations fit in 64 bits',{'model.hidden':'1','model.intermediate':'65536','model.experts':'65536','model.top_k':'65536','model.layers':'1','runtime.max_tokens':'4294967295'},mark='runtime.max_tokens')
case('budget-below-weights','key \'budget.device_bytes\': expected 0 (unlimited) or at least the weights\' 198656 bytes',{'budget.device_bytes':'32K'},mark='budget.device_bytes')
# consistency
case('groups-not-dividing','key \'router.groups\': expected a divisor of experts = 8, found \'3\'',{'router.groups':'3'},mark='router.groups')
case('zero-groups','key \'router.groups\': expected an integer >= 1 (1 = no grouped top-k), found \'0\'',{'router.groups':'0'},mark='router.groups')
case('topk-group-above-groups','key \'router.topk_group\': expected an integer in [1, groups = 4], found \'5\'',{'router.groups':'4','router.topk_group':'5'},mark='router.topk_group')
case('top-k-above-eligible','key \'model.top_k\': expected at most topk_group * experts / groups = 4',{'model.top_k':'5','router.groups':'4','router.topk_group':'2'},mark='model.top_k')
case('topk-group-without-groups','key \'router.topk_group\': expected no topk_group unless groups > 1 (grouped top-k is off), found \'1\'',{'router.topk_group':'1'},mark='router.topk_group')
case('score-bias-single-expert-groups','key \'router.groups\': expected at most experts / 2 = 4 with score_correction_bias',{'router.scoring':'sigmoid','router.groups':'8','router.topk_group':'2','router.score_correction_bias':'true'},mark='router.groups')
case('on-input-noop','key \'router.apply_router_weight_on_input\': expected false when top_k = 1 with renormalize and routed_scaling_factor 1',{'model.top_k':'1','router.renormalize':'true','router.apply_router_weight_on_input':'true'},mark='router.apply_router_weight_on_input')
case('shared-intermediate-alone','key \'model.shared_intermediate\': expected no shared_intermediate without shared experts (shared_experts = 0), found \'64\'',{'model.shared_intermediate':'64'},mark='model.shared_intermediate')
case('shared-experts-alone','shared-experts-alone.conf: [model] missing required key \'shared_intermediate\' (needed with shared_experts = 2)',{'model.shared_experts':'2'})
case('shared-gate-without-shared','key \'router.shared_expert_gate\': expected false without shared experts (shared_experts = 0), found \'true\'',{'router.shared_expert_gate':'true'},mark='router.shared_expert_gate')
case('swiglu-missing-alpha','swiglu-missing-alpha.conf: [experts] missing required key \'swiglu_alpha\' (needed with activation = swiglu_oai)',{'experts.activation':'swiglu_oai','experts.swiglu_limit':'7'})
case('swiglu-missing-limit','swiglu-missing-limit.conf: [experts] missing required key \'swiglu_limit\'',{'experts.activation':'swiglu_oai','experts.swiglu_alpha':'1.702'})
case('swiglu-alpha-with-silu','key \'experts.swiglu_alpha\': expected no swiglu_alpha unless activation = swiglu_oai (activation is silu), found \'1.702\'',{'experts.swiglu_alpha':'1.702'},mark='experts.swiglu_alpha')
case('swiglu-limit-zero','key \'experts.swiglu_limit\': expected a finite number > 0 with swiglu_oai, found \'0\'',{'experts.activation':'swiglu_oai','experts.swiglu_alpha':'1.702','experts.swiglu_limit':'0'},mark='experts.swiglu_limit')
case('synthetic-with-file','key \'weights.file\': expected no file with synthetic weights',{'weights.layout':'synthetic','weights.file':'model.safetensors'},mark='weights.file')
case('file-without-layout','key \'weights.file\': expected a [weights] layout for the checkpoint file (llama4|mixtral|qwen_moe|deepseek|gpt_oss), found \'model.safetensors\'',{'weights.file':'model.safetensors'},mark='weights.file')
case('layout-without-file','key \'weights.layout\': expected synthetic when no [weights] file is given, found \'mixtral\'',{'weights.layout':'mixtral'},mark='weights.layout')
case('seed-with-file','key \'weights.seed\': expected no seed with a checkpoint file',{'weights.layout':'mixtral','weights.file':'m.safetensors','weights.seed':'7'},mark='weights.seed')
case('prefix-without-file','key \'weights.prefix\': expected no prefix with synthetic weights (no file), found \'model.layers.\'',{'weights.prefix':'model.layers.'},mark='weights.prefix')
case('interleaved-synthetic','key \'experts.gate_up\': expected concatenated with synthetic weights',{'experts.gate_up':'interleaved'},mark='experts.gate_up')
case('empty-file','empty-file.conf: [model] missing required key \'hidden\'',raw=[])
# the layer number belongs to the loader, not the prefix
case('prefix-layer-number','key \'weights.prefix\': expected the prefix without a layer number (here \'model.layers.\'): the loader appends each layer\'s number itself, so leave out \'3.\', found \'model.layers.3.\'',{'weights.file':'m.safetensors','weights.layout':'mixtral','weights.prefix':'model.layers.3.'},mark='weights.prefix')
case('prefix-layer-number-no-dot','key \'weights.prefix\': expected the prefix without a layer number (here \'model.layers.\'): the loader appends each layer\'s number itself, so leave out \'12\', found \'model.layers.12\'',{'weights.file':'m.safetensors','weights.layout':'mixtral','weights.prefix':'model.layers.12'},mark='weights.prefix')
# what a layout fixes
case('gpt-oss-concatenated','key \'experts.gate_up\': expected interleaved with layout gpt_oss (GPT-OSS checkpoints always store gate_up_proj with gate and up in alternating columns; leave gate_up out), found \'concatenated\'',{'weights.file':'m.safetensors','weights.layout':'gpt_oss','experts.gate_up':'concatenated'},mark='experts.gate_up')
# weights.model_dir: the model comes from config.json, the file may not repeat it
case('model-dir-missing','key \'weights.model_dir\': /nonexistent/model-dir: not a model directory',{'weights.model_dir':'/nonexistent/model-dir'},drop=('model.hidden','model.intermediate','model.experts','model.top_k','model.layers','router.scoring','experts.activation'),mark='weights.model_dir')
case('model-dir-with-model-key','key \'model.hidden\': not allowed with weights.model_dir (line 19): the model directory\'s config.json gives it',{'weights.model_dir':'/nonexistent/model-dir'},mark='model.hidden')
case('model-dir-twice','key \'weights.model_dir\': expected one value per key (first set at line',{'weights.model_dir':'/a'},add=['model_dir = /b'],mark='last')

# [quant]: quantized experts (config/README.md "Quantized experts"); hidden and
# intermediate 128 so the format's default group (128) divides them unless a case says.
Q={'model.hidden':'128','model.intermediate':'128'}
def q(**kv):
    d=dict(Q)
    for k,v in kv.items(): d['quant.'+k]=v
    return d
CK={'weights.file':'m.safetensors','weights.layout':'mixtral'}
case('quant-format-enum','key \'quant.format\': expected one of none|int4|int8|fp8|mxfp4, found \'int3\'',q(format='int3'),mark='quant.format')
case('quant-packing-enum','key \'quant.packing\': expected one of none|gptq|awq|compressed_tensors|native, found \'marlin\'',q(format='int4',packing='marlin'),mark='quant.packing')
case('quant-scale-enum','key \'quant.scale_dtype\': expected one of f16|bf16|f32|e8m0, found \'fp16\'',q(format='int4',scale_dtype='fp16'),mark='quant.scale_dtype')
case('quant-bool','key \'quant.zero_points\': expected true or false, found \'asym\'',q(format='int4',zero_points='asym'),mark='quant.zero_points')
case('quant-group-without-format','key \'quant.group_size\': expected no group_size unless quant.format is set (float experts), found \'128\'',q(group_size='128'),mark='quant.group_size')
case('quant-shared-without-format','key \'quant.shared_experts\': expected no shared_experts unless quant.format is set (float experts), found \'false\'',q(format='none',shared_experts='false'),mark='quant.shared_experts')
case('quant-packing-synthetic','key \'quant.packing\': expected none with synthetic weights (packing says how a checkpoint file stores the experts), found \'gptq\'',q(format='int4',packing='gptq'),mark='quant.packing')
case('quant-file-without-packing','key \'quant.packing\': expected gptq|awq|compressed_tensors with format int4, found \'none\' (not in the file: the default with format int4)',dict(q(format='int4'),**CK),mark='quant.format')
case('quant-int8-awq','key \'quant.packing\': expected gptq|compressed_tensors with format int8, found \'awq\'',dict(q(format='int8',packing='awq',zero_points='true'),**CK),mark='quant.packing')
case('quant-fp8-gptq','key \'quant.packing\': expected native|compressed_tensors with format fp8, found \'gptq\'',dict(q(format='fp8',packing='gptq'),**CK),mark='quant.packing')
case('quant-mxfp4-compressed','key \'quant.packing\': expected native with format mxfp4 (GPT-OSS\'s *_blocks/*_scales), found \'compressed_tensors\'',dict(q(format='mxfp4',packing='compressed_tensors'),**CK),mark='quant.packing')
case('quant-mxfp4-mixtral','key \'quant.format\': expected mxfp4 only with layout gpt_oss (the one family published in MXFP4), found \'mxfp4\'',dict(q(format='mxfp4',packing='native'),**CK),mark='quant.format')
case('quant-hidden-not-32','key \'quant.format\': expected a geometry with hidden, intermediate multiples of 32 for quantized experts (hidden 80, intermediate 128), found \'int4\'',q(format='int4',group_size='0'),set2={'model.hidden':'80'},mark='quant.format')
case('quant-shared-not-32','key \'quant.format\': expected a geometry with hidden, intermediate and shared width multiples of 32 for quantized experts (hidden 128, intermediate 128, shared width 48), found \'int8\'',q(format='int8',group_size='0'),set2={'model.shared_experts':'1','model.shared_intermediate':'48'},mark='quant.format')
case('quant-group-not-32','key \'quant.group_size\': expected 0 (per output channel) or a multiple of 32 dividing hidden (128), intermediate (128), found \'48\'',q(format='int4',group_size='48'),mark='quant.group_size')
case('quant-group-not-dividing','key \'quant.group_size\': expected 0 (per output channel) or a multiple of 32 dividing hidden (128), intermediate (96), found \'64\'',q(format='int4',group_size='64'),set2={'model.intermediate':'96'},mark='quant.group_size')
case('quant-default-group-too-big','key \'quant.group_size\': expected 0 (per output channel) or a multiple of 32 dividing hidden (64), intermediate (128), found \'128\' (not in the file: the default with format int4)',q(format='int4'),set2={'model.hidden':'64'},mark='quant.format')
case('quant-group-shared','key \'quant.group_size\': expected 0 (per output channel) or a multiple of 32 dividing hidden (128), intermediate (128) and the shared width, found \'128\' (not in the file: the default with format int4)',q(format='int4'),set2={'model.shared_experts':'1','model.shared_intermediate':'64'},mark='quant.format')
case('quant-fp8-group-64','key \'quant.group_size\': expected 0 (per-channel scales) or 128 (128x128 blocks) with format fp8, found \'64\'',q(format='fp8',group_size='64'),mark='quant.group_size')
case('quant-fp8-blocks-geometry','key \'quant.group_size\': expected 0 (per channel): 128x128 blocks need hidden, intermediate to be multiples of 128, found \'128\' (not in the file: the default with format fp8)',q(format='fp8'),set2={'model.intermediate':'96'},mark='quant.format')
case('quant-mxfp4-group','key \'quant.group_size\': expected 32 with format mxfp4 (one scale per 32 values), found \'64\'',q(format='mxfp4',group_size='64'),mark='quant.group_size')
case('quant-zeros-fp8','key \'quant.zero_points\': expected false with format fp8 (zero points are for int4/int8), found \'true\'',q(format='fp8',zero_points='true'),mark='quant.zero_points')
case('quant-awq-symmetric','key \'quant.zero_points\': expected true with packing awq (AutoAWQ GEMM is asymmetric), found \'false\' (not in the file: the default with format int4)',dict(q(format='int4',packing='awq'),**CK),mark='quant.format')
case('quant-act-order-awq','key \'quant.act_order\': expected false unless format is int4/int8 with packing gptq (g_idx), compressed_tensors (weight_g_idx) or synthetic, found \'true\'',dict(q(format='int4',packing='awq',zero_points='true',act_order='true'),**CK),mark='quant.act_order')
case('quant-act-order-fp8','key \'quant.act_order\': expected false unless format is int4/int8 with packing gptq (g_idx), compressed_tensors (weight_g_idx) or synthetic, found \'true\'',q(format='fp8',act_order='true'),mark='quant.act_order')
case('quant-act-order-per-channel','key \'quant.act_order\': expected false with per-channel scales (group_size 0: act-order only reorders groups), found \'true\'',q(format='int4',group_size='0',act_order='true'),mark='quant.act_order')
case('quant-e8m0-int4','key \'quant.scale_dtype\': expected f16|bf16|f32 with format int4, found \'e8m0\'',q(format='int4',scale_dtype='e8m0'),mark='quant.scale_dtype')
case('quant-mxfp4-f16','key \'quant.scale_dtype\': expected e8m0 with format mxfp4, found \'f16\'',q(format='mxfp4',scale_dtype='f16'),mark='quant.scale_dtype')
case('quant-budget-below-weights','key \'budget.device_bytes\': expected 0 (unlimited) or at least the weights\' 409600 bytes',dict(q(format='int4'),**{'budget.device_bytes':'64K'}),mark='budget.device_bytes')

for name, expect, set, drop, add, mark, raw in cases:
    if raw is not None:
        lines=list(raw); markline=len(lines) if lines else None
    else:
        lines, markline = render(set, drop, add, mark)
    if name=='duplicate-key':
        # experts set on line 5 (of the final file) and again at the end
        lines.append(b'[model]') if False else None
        lines=[l for l in lines]
        idx=lines.index(b'[router]')
        lines.insert(idx-1, b'experts = 16'); markline=idx
    if name=='duplicate-section': markline=len(lines)-1
    body=b'\n'.join(lines)+(b'\n' if lines else b'')
    e=expect
    if markline is not None and not e.startswith(name+'.conf'):
        e='%s.conf:%d: %s'%(name, markline+1, e)
    out=b'# expect: '+e.encode()+b'\n'+body
    open(os.path.join(OUT,name+'.conf'),'wb').write(out)
print(len(cases))
